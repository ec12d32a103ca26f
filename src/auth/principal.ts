import { z } from "zod";
import { Role } from "./roles.js";

/**
 * Who is calling, once authenticated: an API key or an OIDC subject. The auth plugin decorates the
 * request with it; authorization reads `role` and `teams` (a caller acts on its teams' providers only).
 */
export const PrincipalKind = z.enum(["apikey", "oidc"]);
export type PrincipalKind = z.infer<typeof PrincipalKind>;

export const Principal = z.object({
  kind: PrincipalKind,
  /** Stable id: the API key's id, or the OIDC `sub`. Audit records name the principal by kind and id. */
  id: z.string().min(1),
  /** For people reading logs and the audit trail; not unique. */
  name: z.string(),
  role: Role,
  teams: z.array(z.string()).readonly(),
});
export type Principal = Readonly<z.infer<typeof Principal>>;

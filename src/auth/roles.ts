import { z } from "zod";

/**
 * Roles (DESIGN §10, issue #5). `viewer < operator < approver < admin` is a linear order: a role holds
 * every role below it. `auditor` stands apart: it reads the audit trail and nothing else (as HCP Terraform's
 * audit-trail token), so it holds no other role, and of the others only `admin` holds it.
 */
export const ROLES = ["viewer", "operator", "approver", "admin", "auditor"] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

/** What each role holds, spelled out rather than derived, so that the table is the specification. */
const HOLDS: Record<Role, ReadonlySet<Role>> = {
  viewer: new Set(["viewer"]),
  operator: new Set(["viewer", "operator"]),
  approver: new Set(["viewer", "operator", "approver"]),
  admin: new Set(["viewer", "operator", "approver", "admin", "auditor"]),
  auditor: new Set(["auditor"]),
};

/** Whether a principal with `principalRole` may do what requires `required`. */
export function hasRole(principalRole: Role, required: Role): boolean {
  return HOLDS[principalRole].has(required);
}

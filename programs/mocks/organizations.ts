import { digest, globalArn, type Context, type MockArea } from "./context.js";

/**
 * AWS Organizations: the bridge account, the SCP/RCP and their attachments (and organisational units,
 * which no program creates yet). The mock cloud registers these only with a provider in the management
 * account (mock-cloud.ts), so `c.accountId` is the management account here, and every object reports the
 * one organisation that account manages. ARN formats (Organizations API reference, "ARN formats
 * supported by Organizations"): `…:organizations::<management>:account/o-…/<id>`,
 * `…:policy/o-…/<policy type in lower case>/p-…`, `…:ou/o-…/ou-<root>-…`.
 */

/** The organisation the management account manages: `o-` and 10 of [a-z0-9] (the API allows 10–32). */
const organizationId = (c: Context): string => `o-${digest(`org:${c.accountId}`).slice(0, 10)}`;

/** The organisation's root, `r-` and 4 of [0-9a-z]; an OU id starts with its root's part. */
const rootPart = (c: Context): string => digest(`root:${c.accountId}`).slice(0, 4);

const text = (c: Context, key: string): string | undefined => {
  const value = c.inputs[key];
  return typeof value === "string" && value.length > 0 ? value : undefined;
};

export const organizations: MockArea = {
  // aws_organizations_account: email, name (and the create-only role name / billing access, which the
  // program ignores changes of) are ForceNew; parent_id moves the account in place. An OU's parent_id
  // is ForceNew, its name is updated in place.
  replaceOn: {
    "aws:organizations/account:Account": ["email", "name"],
    // Guess: an Organizations policy keeps its id when renamed or edited; only its type is fixed.
    "aws:organizations/policy:Policy": ["type"],
    "aws:organizations/policyAttachment:PolicyAttachment": ["policyId", "targetId"],
    "aws:organizations/organizationalUnit:OrganizationalUnit": ["parentId"],
  },
  computed: {
    "aws:organizations/account:Account": (c) => {
      const id = (BigInt(`0x${c.hex(15)}`) % 10n ** 12n).toString().padStart(12, "0");
      return {
        id,
        state: {
          arn: globalArn(c, "organizations", `account/${organizationId(c)}/${id}`),
          parentId: text(c, "parentId") ?? `r-${rootPart(c)}`,
          joinedMethod: "CREATED",
          status: "ACTIVE",
          govcloudId: "",
        },
      };
    },
    "aws:organizations/policy:Policy": (c) => {
      const id = `p-${c.hex(8)}`;
      const kind = String(c.inputs["type"] ?? "SERVICE_CONTROL_POLICY").toLowerCase();
      return { id, state: { arn: globalArn(c, "organizations", `policy/${organizationId(c)}/${kind}/${id}`), awsManaged: false } };
    },
    // Terraform's id is `<targetId>:<policyId>`; an attachment has no ARN.
    "aws:organizations/policyAttachment:PolicyAttachment": (c) => ({
      id: `${text(c, "targetId") ?? ""}:${text(c, "policyId") ?? ""}`,
      state: {},
    }),
    "aws:organizations/organizationalUnit:OrganizationalUnit": (c) => {
      const parent = text(c, "parentId") ?? "";
      const root = /^(?:r|ou)-([0-9a-z]{4,32})(?:-|$)/.exec(parent)?.[1] ?? rootPart(c);
      const id = `ou-${root}-${c.hex(8)}`;
      return { id, state: { arn: globalArn(c, "organizations", `ou/${organizationId(c)}/${id}`), accounts: [] } };
    },
  },
};

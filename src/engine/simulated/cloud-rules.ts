import type { SimResource } from "./plan.js";

/**
 * Names AWS keeps unique (per account and region, or globally), by resource type: the input (or, when
 * AWS generates it from a prefix, the output) that holds it. The simulated cloud remembers the names of
 * resources a destroy left in AWS (retainOnDelete), and a create of the same name fails as AWS's would
 * (`ResourceAlreadyExistsException`, `TrailAlreadyExistsException`, `EMAIL_ALREADY_EXISTS`, …).
 * Conservative: one namespace for every account, so a retained name blocks it even in another account.
 */
const UNIQUE_NAME: Readonly<Record<string, string>> = {
  "aws:cloudwatch/logGroup:LogGroup": "name",
  "aws:cloudtrail/trail:Trail": "name",
  "aws:kms/alias:Alias": "name",
  "aws:kms/customKeyStore:CustomKeyStore": "customKeyStoreName",
  "aws:organizations/account:Account": "email",
  "aws:organizations/policy:Policy": "name",
  "aws:s3/bucket:Bucket": "bucket",
  "aws:iam/role:Role": "name",
};

/**
 * The unique name the program chose, or undefined for a resource AWS does not name uniquely. Names AWS
 * generates from a prefix (`bucketPrefix`, `namePrefix`) are unique in AWS but not in the mock cloud,
 * whose ids are deterministic: only names given as inputs count.
 */
export function physicalName(r: Pick<SimResource, "type" | "inputs">): string | undefined {
  const key = UNIQUE_NAME[r.type];
  const value = key === undefined ? undefined : r.inputs[key];
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/**
 * Why AWS would refuse to delete this resource, if it would: a load balancer with deletion protection
 * (ELB.6) cannot be deleted (`OperationNotPermitted`) until an update turns the protection off.
 */
export function deleteRefusal(r: Pick<SimResource, "type" | "inputs">): string | undefined {
  if (r.type === "aws:lb/loadBalancer:LoadBalancer" && r.inputs["enableDeletionProtection"] === true) {
    return "OperationNotPermitted: the load balancer cannot be deleted because deletion protection is enabled";
  }
  return undefined;
}

import { nonEmptyString, ofType, show, TYPES, violation, type GuardrailViolation, type PlannedResource } from "./types.js";

/** Audit evidence: log groups, the trail and its bucket (research/aws-design.md §1.2, §1.6). */

export function logGroupRules(resources: readonly PlannedResource[]): GuardrailViolation[] {
  return ofType(resources, TYPES.logGroup)
    .filter((g) => !nonEmptyString(g.inputs["kmsKeyId"]))
    .map((g) => violation(g, "LOG_GROUP_UNENCRYPTED", "log group has no kmsKeyId; expected a customer managed KMS key"));
}

export function trailRules(resources: readonly PlannedResource[]): GuardrailViolation[] {
  const out: GuardrailViolation[] = [];
  for (const t of ofType(resources, TYPES.trail)) {
    if (!nonEmptyString(t.inputs["kmsKeyId"])) {
      out.push(violation(t, "TRAIL_UNENCRYPTED", "trail has no kmsKeyId; expected SSE-KMS with the logging key"));
    }
    if (t.inputs["enableLogFileValidation"] !== true) {
      const value = show(t.inputs["enableLogFileValidation"] ?? "unset");
      out.push(violation(t, "TRAIL_VALIDATION_DISABLED", `enableLogFileValidation is ${value}; expected true`));
    }
  }
  return out;
}

const FLAGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"] as const;

/**
 * Which bucket a public access block protects. Its `bucket` input is the bucket's name, which AWS also
 * uses as the bucket's id; in the planned graph it holds the Bucket's `id` output. So:
 * 1. by value: the PAB's `bucket` equals a bucket's `id` (when the caller passes it, as
 *    `RegisteredResource` does) or the bucket's explicit `bucket` input;
 * 2. otherwise, when the value is unknown (a real preview) or names no bucket of the graph: the one
 *    Bucket among the PAB's `dependencies` (Pulumi records the resources whose outputs an input used).
 * With neither (a bare subset whose bucket name is computed), nothing matches and the bucket is
 * reported: the rule fails closed rather than guessing from name prefixes.
 */
function protectedBucket(pab: PlannedResource, buckets: readonly PlannedResource[]): PlannedResource | undefined {
  const target = pab.inputs["bucket"];
  if (nonEmptyString(target)) {
    const byValue = buckets.find((b) => b.id === target || b.inputs["bucket"] === target);
    if (byValue) return byValue;
  }
  const byDependency = buckets.filter((b) => pab.dependencies?.includes(b.urn));
  return byDependency.length === 1 ? byDependency[0] : undefined;
}

export function bucketRules(resources: readonly PlannedResource[]): GuardrailViolation[] {
  const out: GuardrailViolation[] = [];
  const buckets = ofType(resources, TYPES.bucket, TYPES.bucketV2);
  const protectedUrns = new Set<string>();
  for (const pab of ofType(resources, TYPES.publicAccessBlock)) {
    const off = FLAGS.filter((flag) => pab.inputs[flag] !== true);
    if (off.length > 0) {
      out.push(
        violation(pab, "BUCKET_PUBLIC_ACCESS_NOT_BLOCKED", `public access block leaves ${show(off)} not true; expected all four settings true`),
      );
    }
    const bucket = protectedBucket(pab, buckets);
    if (bucket) protectedUrns.add(bucket.urn);
  }
  for (const bucket of buckets) {
    if (!protectedUrns.has(bucket.urn)) {
      out.push(
        violation(bucket, "BUCKET_PUBLIC_ACCESS_NOT_BLOCKED", "bucket has no public access block referring to it; expected a BucketPublicAccessBlock with all four settings true"),
      );
    }
  }
  return out;
}

/**
 * Server access logging (AWS Security Hub S3.9; issue 12, defect 6): every bucket has a BucketLogging
 * naming it, with a target, unless it is itself the target of one (an access-log bucket: logging it
 * too would only log the log deliveries, which AWS advises against). Source and target are matched by
 * value (a bucket's id or explicit name); when the source's value names no bucket of the graph (a real
 * preview's unknown value), by the logging resource's dependencies other than its target: exactly the
 * buckets whose outputs its inputs used.
 */
export function bucketLoggingRules(resources: readonly PlannedResource[]): GuardrailViolation[] {
  const buckets = ofType(resources, TYPES.bucket, TYPES.bucketV2);
  const byValue = (value: unknown) => (nonEmptyString(value) ? buckets.find((b) => b.id === value || b.inputs["bucket"] === value) : undefined);
  const covered = new Set<string>();
  for (const logging of ofType(resources, TYPES.bucketLogging, TYPES.bucketLoggingV2)) {
    if (logging.inputs["targetBucket"] !== undefined && !nonEmptyString(logging.inputs["targetBucket"])) continue;
    const target = byValue(logging.inputs["targetBucket"]);
    if (target) covered.add(target.urn);
    const source = byValue(logging.inputs["bucket"]);
    if (source) {
      covered.add(source.urn);
      continue;
    }
    for (const b of buckets) if (b !== target && logging.dependencies?.includes(b.urn)) covered.add(b.urn);
  }
  return buckets
    .filter((b) => !covered.has(b.urn))
    .map((b) => violation(b, "BUCKET_ACCESS_LOGGING_DISABLED", "bucket has no server access logging referring to it and is no access-log destination; expected an s3.BucketLogging (S3.9)"));
}

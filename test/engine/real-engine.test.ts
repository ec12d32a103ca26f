import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSimulatedEngine } from "../../src/engine/simulated/simulated-engine.js";
import { specNamed, startTestService, waitForStatus, warningsOf, type TestService } from "../helpers/service.js";
import type { CloudBehaviour } from "../support/fake-aws/cloud.js";
import { DEVELOPMENT_PASSPHRASE } from "../../src/engine/factory.js";
import { descendantsOf, killTree } from "../../src/engine/process/process-tree.js";
import { prepareRealEngine, realEngineMissing, toolchainPath, type RealEngine } from "../support/real-engine.js";
import { waitForEvent } from "./contract.js";
import { alive } from "../helpers/processes.js";
import { createFakeKms } from "../support/fake-kms.js";
import { until } from "../helpers/until.js";
import { accepted, events, filesUnder, latestCheckpoint, policyRuleGroups, REAL_ENGINE_TIMEOUT as TIMEOUT, run, stackRuleGroups, stepsOf } from "./real-engine-api.js";

/**
 * What only the real Pulumi engine can show (issue #11): the CLI built from Go modules, through HTTP →
 * runner → engine child → Automation API, against the stand-in AWS plugin (TEST DOUBLE). The simulated
 * engine runs the same requests where the two must agree.
 */
const missing = realEngineMissing();
if (missing) console.log(`real engine suite: SKIPPED — ${missing}`);
type Json = Record<string, any>;
const KMS_KEY = "aws:kms/key:Key";

describe.skipIf(missing !== undefined)("the real Pulumi engine", () => {
  let real: RealEngine;
  let s: TestService;
  const behave = (b: CloudBehaviour) => real.cloud.setBehaviour({ latencyMs: { default: 20 }, ...b });

  beforeAll(async () => {
    real = await prepareRealEngine({ behaviour: { latencyMs: { default: 20 } }, env: { ENGINE_CANCEL_GRACE_SECONDS: "60" } });
    s = await startTestService({ engine: real.engine, config: { KEY_STORE_POLL_SECONDS: 1, VERIFY_ACCESS: "off" } }); // no AWS API could read what the stand-in makes
  }, 120_000);
  afterAll(async () => {
    await s?.close(5_000);
    await real?.close();
  });

  it("create → same → update → revoke → reinstate → decommission: the same steps and summaries as the simulated engine, outputs from the cloud", async () => {
    const sim = await startTestService({ engine: (db) => createSimulatedEngine({ state: { db }, stepMs: 0 }), config: { VERIFY_ACCESS: "off" } });
    try {
      const spec = specNamed("real-life");
      const changed = { ...spec, firewall: { allowedDomains: ["api.acme.example", "status.acme.example"] } };
      const requests = [
        { method: "POST", url: "/v1/providers", payload: spec },
        { method: "PUT", url: "/v1/providers/real-life", payload: spec },
        { method: "PUT", url: "/v1/providers/real-life", payload: changed },
        { method: "POST", url: "/v1/providers/real-life/revoke" },
        { method: "POST", url: "/v1/providers/real-life/reinstate" },
        { method: "DELETE", url: "/v1/providers/real-life" },
      ] as const;
      const outcomes: Json[] = [];
      for (const req of requests) {
        const [r, m] = [await run(s, req), await run(sim, req)];
        expect(r.status, `${req.method} ${req.url}: ${JSON.stringify(r.error)}`).toBe("succeeded");
        expect(m.status).toBe("succeeded");
        // Exact: every count, and every step by name and kind.
        expect(r.result.summary, `${req.method} ${req.url}`).toEqual(m.result.summary);
        expect(await stepsOf(s, r), `${req.method} ${req.url}`).toEqual(await stepsOf(sim, m));
        outcomes.push(r);
      }
      const [created, same, updated, revoked, reinstated, destroyed] = outcomes as [Json, Json, Json, Json, Json, Json];
      expect(created.result.summary.create).toBeGreaterThan(20);
      expect(same.result.summary).toMatchObject({ create: 0, update: 0, delete: 0, replace: 0 });
      expect(updated.result.summary.update).toBeGreaterThan(0);
      expect(revoked.result.summary.delete).toBeGreaterThan(0);
      expect(reinstated.result.summary.create).toBeGreaterThan(0);
      expect(destroyed.result.summary.create).toBe(0);

      // The outputs are what the (fake) cloud holds: the key's ARN is the record's, in the bridge account.
      // Fail-safe decommission (issue 12): the BYOK key is disabled and retained, not scheduled for deletion.
      const key = real.cloud.list().find((r) => r.type === KMS_KEY && r.urn.endsWith("::real-life-key"));
      expect(key?.inputs["isEnabled"], "the BYOK key is disabled and retained").toBe(false);
      expect(created.result.outputs.keyArn).toMatch(/^arn:aws:kms:eu-west-1:\d{12}:key\/[0-9a-f-]{36}$/);
      expect(revoked.result.outputs.keyArn).toBe(created.result.outputs.keyArn);
      expect(reinstated.result.outputs.accessState).toBe("active");
      const provider = (await s.app.inject({ method: "GET", url: "/v1/providers/real-life" })).json() as Json;
      expect(provider.lifecycle).toBe("decommissioned");
      expect(provider.outputs.byokKey).toEqual({ arn: created.result.outputs.keyArn, disposition: "retained", state: "disabled" });
      // Retained on purpose (audit evidence): the trail and its bucket outlive the stack.
      const kept = real.cloud.list().filter((r) => r.urn.includes("::real-life")).map((r) => r.type);
      expect(kept).toEqual(expect.arrayContaining(["aws:cloudtrail/trail:Trail", "aws:s3/bucket:Bucket"]));
    } finally {
      await sim.close(5_000);
    }
  }, 4 * TIMEOUT);

  it("preview of a proposed spec plans the change and changes nothing", async () => {
    const spec = specNamed("real-preview");
    expect((await run(s, { method: "POST", url: "/v1/providers", payload: spec })).status).toBe("succeeded");
    const before = JSON.stringify(real.cloud.list().filter((r) => r.urn.includes("::real-preview")).sort((a, b) => a.id.localeCompare(b.id)));
    const proposed = { ...spec, firewall: { allowedDomains: ["api.acme.example", "files.acme.example"] } };
    const preview = await run(s, { method: "POST", url: "/v1/providers/real-preview/preview", payload: proposed });
    expect(preview.status, JSON.stringify(preview.error)).toBe("succeeded");
    expect(preview.result.summary).toMatchObject({ create: 0, delete: 0, replace: 0 });
    expect(preview.result.summary.update).toBeGreaterThan(0);
    const planned = (await events(s, preview.id)).filter((e) => e.type === "resource.planned" && e.op === "update").map((e) => e.resourceType);
    expect(planned).toContain("aws:networkfirewall/ruleGroup:RuleGroup");
    const after = JSON.stringify(real.cloud.list().filter((r) => r.urn.includes("::real-preview")).sort((a, b) => a.id.localeCompare(b.id)));
    expect(after).toBe(before);
  }, TIMEOUT);

  it("drift check: edits made in the cloud are reported by resource and key, never by value, and nothing is changed", async () => {
    const spec = specNamed("real-drift");
    const created = await run(s, { method: "POST", url: "/v1/providers", payload: spec });
    expect(created.status).toBe("succeeded");
    const clean = await run(s, { method: "POST", url: "/v1/providers/real-drift/drift-check" });
    expect(clean.status, JSON.stringify(clean.error)).toBe("succeeded");
    expect(clean.kind).toBe("refresh");
    expect(clean.result.summary).toMatchObject({ update: 0, delete: 0, create: 0, replace: 0 });
    expect((await events(s, clean.id)).filter((e) => String(e.message ?? "").startsWith("Drift:"))).toEqual([]);

    // By hand in the console: a tag on the endpoint's security group changed, the flow-log group deleted.
    const mine = real.cloud.list().filter((r) => r.urn.startsWith("urn:pulumi:real-drift::"));
    const sg = mine.find((r) => r.type === "aws:ec2/securityGroup:SecurityGroup")!;
    const logs = mine.find((r) => r.type === "aws:cloudwatch/logGroup:LogGroup" && r.urn.endsWith("::real-drift-flow-logs"))!;
    real.cloud.put({ ...sg, outputs: { ...sg.outputs, tags: { ...(sg.outputs["tags"] as Json), owner: "SECRET-LOOKING-VALUE" } } });
    real.cloud.remove(logs.type, logs.id);
    const before = JSON.stringify(real.cloud.list().filter((r) => r.urn.startsWith("urn:pulumi:real-drift::")).sort((a, b) => a.id.localeCompare(b.id)));

    const drift = await run(s, { method: "POST", url: "/v1/providers/real-drift/drift-check" });
    expect(drift.status, JSON.stringify(drift.error)).toBe("succeeded");
    expect(drift.result.summary).toMatchObject({ update: 1, delete: 1, create: 0, replace: 0 });
    const list = await events(s, drift.id);
    const warnings = list.filter((e) => e.type === "diagnostic" && String(e.message).startsWith("Drift:")).map((e) => e.message).sort();
    expect(warnings).toEqual([
      "Drift: aws:cloudwatch/logGroup:LogGroup real-drift-flow-logs no longer exists in the cloud (deleted outside Pulumi)",
      "Drift: aws:ec2/securityGroup:SecurityGroup real-drift-sg changed outside Pulumi (changed: tags)",
    ]);
    expect(JSON.stringify(list)).not.toContain("SECRET-LOOKING-VALUE");
    // Nothing was written: not the cloud, not the provider's outputs, and the next drift check sees the same.
    expect(JSON.stringify(real.cloud.list().filter((r) => r.urn.startsWith("urn:pulumi:real-drift::")).sort((a, b) => a.id.localeCompare(b.id)))).toBe(before);
    const provider = (await s.app.inject({ method: "GET", url: "/v1/providers/real-drift" })).json() as Json;
    expect(provider.outputs).toEqual(created.result.outputs);
    expect(provider.lifecycle).toBe("active");
    // The provider's drift object (issue 16): the resources and their keys, never values.
    expect(provider.drift).toMatchObject({ status: "drifted", operationId: drift.id, checkedAt: expect.any(String) });
    expect([...(provider.drift.resources as Json[])].sort((a, b) => String(a.change).localeCompare(String(b.change)))).toEqual([
      { urn: logs.urn, type: "aws:cloudwatch/logGroup:LogGroup", change: "delete", keys: [] },
      { urn: sg.urn, type: "aws:ec2/securityGroup:SecurityGroup", change: "update", keys: ["tags"] },
    ]);
    expect(JSON.stringify(provider)).not.toContain("SECRET-LOOKING-VALUE");
    const again = await run(s, { method: "POST", url: "/v1/providers/real-drift/drift-checks" });
    expect(again.result.summary).toEqual(drift.result.summary);
    expect(((await s.app.inject({ method: "GET", url: "/v1/providers/real-drift" })).json() as Json).drift).toMatchObject({ status: "drifted", operationId: again.id });
  }, 3 * TIMEOUT);

  it("a secret in the stack's config (canary) reaches the state only as ciphertext: never in plaintext in state, work dir, events or logs", async () => {
    const spec = specNamed("real-canary");
    expect((await run(s, { method: "POST", url: "/v1/providers", payload: spec })).status).toBe("succeeded");
    // Credentials set as secret stack config by a person (`pulumi config set --secret`): the default
    // provider (the Organizations account's) takes them as inputs, and its inputs are kept in the state.
    const canary = `CANARY-${Math.random().toString(36).slice(2)}-do-not-leak`;
    const workDir = join(real.dataDir, "engine", "stacks", "saas-bridge", "real-canary");
    execFileSync("pulumi", ["config", "set", "--secret", "--stack", "real-canary", "aws:secretKey", canary], {
      cwd: workDir,
      env: { PATH: toolchainPath(), HOME: real.dataDir, PULUMI_HOME: join(real.dataDir, "pulumi-home"), PULUMI_BACKEND_URL: `file://${join(real.dataDir, "pulumi-state")}`, PULUMI_CONFIG_PASSPHRASE: DEVELOPMENT_PASSPHRASE, PULUMI_SKIP_UPDATE_CHECK: "true" },
      stdio: "ignore",
    });
    const updated = await run(s, { method: "PUT", url: "/v1/providers/real-canary", payload: spec });
    expect(updated.status, JSON.stringify(updated.error)).toBe("succeeded");

    // Positive control: the value did reach the state, as a secret.
    const checkpoint = latestCheckpoint(real.dataDir, "real-canary");
    const defaultProvider = (checkpoint.checkpoint.latest.resources as Json[]).find((r) => r.type === "pulumi:providers:aws" && String(r.urn).endsWith("::default_7_48_0"));
    expect(defaultProvider?.inputs?.secretKey).toMatchObject({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: expect.any(String) });
    // Nowhere in plaintext: every file under the data dir (state, stack settings, engine home), every event, every log line.
    const leaks = filesUnder(real.dataDir).filter((f) => readFileSync(f).includes(canary));
    expect(leaks).toEqual([]);
    for (const op of [updated.id]) expect(JSON.stringify(await events(s, op))).not.toContain(canary);
    expect(s.logs.join("\n")).not.toContain(canary);
    expect(JSON.stringify(updated)).not.toContain(canary);
  }, 2 * TIMEOUT);

  it("CloudHSM phase 2 through the API: the kmsuser password only as secret stack config (ciphertext), the store connected through the AWS SDK, the HSM-backed key created", async () => {
    // KMS and STS are a loopback TEST DOUBLE (test/support/fake-kms.ts), reached by the service's real AWS
    // SDK adapter through the SDK's standard endpoint variables; no ambient AWS configuration is read.
    const kms = await createFakeKms();
    const env = {
      AWS_ENDPOINT_URL_KMS: kms.url,
      AWS_ENDPOINT_URL_STS: kms.url,
      AWS_ACCESS_KEY_ID: "AKIATESTBASEKEY00001",
      AWS_SECRET_ACCESS_KEY: "base-secret-key-of-the-test-double",
      AWS_CONFIG_FILE: join(real.dataDir, "no-aws-config"),
      AWS_SHARED_CREDENTIALS_FILE: join(real.dataDir, "no-aws-credentials"),
    };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    const password = `Hsm-${Math.random().toString(36).slice(2, 12)}!`;
    try {
      const spec = specNamed("real-hsm", "globex.json");
      delete spec["inbound"];
      const created = await run(s, { method: "POST", url: "/v1/providers", payload: spec });
      expect(created.status, JSON.stringify(created.error)).toBe("succeeded");
      const bridgeAccountId = String(created.result.outputs.bridgeAccountId);
      kms.allowRole(`arn:aws:iam::${bridgeAccountId}:role/OrganizationAccountAccessRole`);
      kms.adoptUnknownStores({ connectAfterPolls: 1 });

      const ca = readFileSync(new URL("../support/certs/customer-ca.pem", import.meta.url), "utf8");
      const op = await run(s, { method: "PUT", url: "/v1/providers/real-hsm/key-store", payload: { trustAnchorCertificate: ca, kmsuserPassword: password } });
      expect(op.status, `${JSON.stringify(op.error)}\n${warningsOf(s.logs)}`).toBe("succeeded");
      const provider = (await s.app.inject({ method: "GET", url: "/v1/providers/real-hsm" })).json() as Json;
      const storeId = String(provider.outputs.cloudHsm.customKeyStoreId);
      expect(storeId).toMatch(/^cks-[0-9a-f]{17}$/);
      expect(provider.outputs.keyArn).toMatch(/^arn:aws:kms:/);
      expect(provider.keyStore.state).toBe("connected");

      // KMS was asked, as the bridge account's role (its assumed key signed the calls), to connect exactly that store.
      const connects = kms.requests.filter((r) => r.service === "kms" && r.operation === "ConnectCustomKeyStore");
      expect(connects.map((r) => [r.customKeyStoreId, r.roleArn])).toEqual([[storeId, `arn:aws:iam::${bridgeAccountId}:role/OrganizationAccountAccessRole`]]);
      expect(kms.issued(String(connects[0]?.accessKeyId))?.roleArn).toContain(bridgeAccountId);

      // The key is in the store; the password is in the stack's config and state only as ciphertext.
      const checkpoint = latestCheckpoint(real.dataDir, "real-hsm");
      const resources = checkpoint.checkpoint.latest.resources as Json[];
      const store = resources.find((r) => r.type === "aws:kms/customKeyStore:CustomKeyStore");
      expect(store?.inputs?.keyStorePassword).toMatchObject({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: expect.any(String) });
      expect(resources.find((r) => r.type === KMS_KEY && String(r.urn).includes("ByokKey"))?.inputs?.customKeyStoreId).toBe(storeId);
      const settings = readFileSync(join(real.dataDir, "engine", "stacks", "saas-bridge", "real-hsm", "Pulumi.real-hsm.yaml"), "utf8");
      expect(settings).toMatch(/saas-bridge:kmsuserPassword:\s*\n\s*secure: v1:/);
      const leaks = filesUnder(real.dataDir).filter((f) => readFileSync(f).includes(password));
      expect(leaks).toEqual([]);
      expect(JSON.stringify(await events(s, op.id))).not.toContain(password);
      expect(JSON.stringify(op)).not.toContain(password);
      expect(s.logs.join("\n")).not.toContain(password);

      // Connected, the password is forgotten by the service; a later run keeps the store and the key as they are.
      const revoked = await run(s, { method: "POST", url: "/v1/providers/real-hsm/revoke" });
      expect(revoked.status, JSON.stringify(revoked.error)).toBe("succeeded");
      const steps = await stepsOf(s, revoked);
      expect(steps.filter((step) => /customKeyStore|cloudhsmv2/.test(step) && !step.startsWith("same "))).toEqual([]);
      // The key's policy changes (the provider is denied); the key itself stays.
      expect(steps.filter((step) => / aws:kms\/key:Key real-hsm-key$/.test(step))).toEqual(["update aws:kms/key:Key real-hsm-key"]);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await kms.close();
    }
  }, 3 * TIMEOUT);

  it("an AWS API error fails the operation with the provider's message, sanitized, and the retry succeeds", async () => {
    behave({ faults: [{ op: "create", type: "aws:ec2/vpcEndpoint:VpcEndpoint", nth: 1, action: { kind: "error", code: "InvalidServiceName", message: "The Vpc Endpoint Service 'com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef0' does not exist\u001b[31m" } }] });
    try {
      const failed = await run(s, { method: "POST", url: "/v1/providers", payload: specNamed("real-awserror") });
      expect(failed.status).toBe("failed");
      expect(failed.error.code).toBe("RESOURCE_FAILED");
      expect(failed.error.message).toMatch(/^aws:ec2\/vpcEndpoint:VpcEndpoint real-awserror-endpoint: creating VpcEndpoint: operation error VpcEndpoint: https response error StatusCode: 400, RequestID: [0-9a-f-]{36}, api error InvalidServiceName: The Vpc Endpoint Service '.*' does not exist/);
      expect(failed.error.message).not.toMatch(/\u001b|<\{%/);
      const failedEvent = (await events(s, failed.id)).find((e) => e.type === "resource.failed");
      expect(failedEvent).toMatchObject({ resourceType: "aws:ec2/vpcEndpoint:VpcEndpoint", op: "create" });
      const provider = (await s.app.inject({ method: "GET", url: "/v1/providers/real-awserror" })).json() as Json;
      expect(provider.lifecycle).toBe("failed");
    } finally {
      behave({});
    }
    const retry = await run(s, { method: "PUT", url: "/v1/providers/real-awserror", payload: specNamed("real-awserror") });
    expect(retry.status, JSON.stringify(retry.error)).toBe("succeeded");
    expect(retry.result.summary.create).toBeGreaterThan(0);
  }, 2 * TIMEOUT);

  it("a plugin that crashes mid-create fails the operation with a clear message, and the retry succeeds", async () => {
    behave({ faults: [{ op: "create", type: KMS_KEY, nth: 1, action: { kind: "crash" } }] });
    try {
      const failed = await run(s, { method: "POST", url: "/v1/providers", payload: specNamed("real-crash") });
      expect(failed.status).toBe("failed");
      expect(failed.error.code).toBe("PLUGIN_CRASHED");
      // Whichever KMS key the engine starts first (the provider's or the audit trail's; the order varies) is in flight.
      expect(failed.error.message).toMatch(/^the aws resource plugin exited during up; \d+ resource operation\(s\) in flight failed with it \(.*aws:kms\/key:Key real-crash-[a-z-]*key\b.*\); retry the operation$/);
      const text = JSON.stringify(await events(s, failed.id));
      expect(text).toContain("the aws resource plugin exited in the middle of the operation");
      // No path under the data dir, no dump of the plugin's output.
      expect(text).not.toMatch(/saas-bridge-real-engine|pulumi-home|STDOUT and STDERR/);
    } finally {
      behave({});
    }
    const retry = await run(s, { method: "PUT", url: "/v1/providers/real-crash", payload: specNamed("real-crash") });
    expect(retry.status, JSON.stringify(retry.error)).toBe("succeeded");
  }, 2 * TIMEOUT);

  it("cancel during a slow create: in-flight creates finish, the state holds no pending operation, the lock is released", async () => {
    behave({ latencyMs: { default: 20, [KMS_KEY]: 4_000 } });
    let id = "";
    try {
      id = await accepted(s, { method: "POST", url: "/v1/providers", payload: specNamed("real-cancel") });
      await waitForEvent(s, id, "resource.started", TIMEOUT, (e) => e.resourceType === KMS_KEY);
      expect((await s.app.inject({ method: "POST", url: `/v1/operations/${id}/cancel` })).statusCode).toBe(202);
      const ended = await waitForStatus(s, id, ["cancelled", "succeeded", "failed", "interrupted"], TIMEOUT);
      expect(ended.status).toBe("cancelled");
    } finally {
      behave({});
    }
    // The slow create was allowed to finish: the key exists in the cloud and in the state, nothing is pending.
    const list = await events(s, id);
    expect(list.some((e) => e.type === "resource.completed" && e.resourceType === KMS_KEY)).toBe(true);
    const checkpoint = latestCheckpoint(real.dataDir, "real-cancel");
    expect(checkpoint.checkpoint.latest.pending_operations ?? []).toEqual([]);
    const keys = real.cloud.list().filter((r) => r.type === KMS_KEY && r.urn.includes("::real-cancel"));
    const inState = (checkpoint.checkpoint.latest.resources as Json[]).filter((r) => r.type === KMS_KEY).map((r) => String(r.id)).sort();
    expect(inState).toEqual(keys.map((k) => k.id).sort());
    // The lock is gone: the next operation runs without recovery and finishes the stack.
    const again = await run(s, { method: "PUT", url: "/v1/providers/real-cancel", payload: specNamed("real-cancel") });
    expect(again.status, JSON.stringify(again.error)).toBe("succeeded");
    expect((await events(s, again.id)).some((e) => String(e.message ?? "").startsWith("recovered the stack"))).toBe(false);
  }, 2 * TIMEOUT);

  it("cancel of a create that hangs: after the grace the tree is killed, the lock cleared, and the next operation recovers the stack", async () => {
    const quick = await prepareRealEngine({
      behaviour: { latencyMs: { default: 20 }, faults: [{ op: "create", type: KMS_KEY, nth: 1, action: { kind: "hang" } }] },
      env: { ENGINE_CANCEL_GRACE_SECONDS: "3" },
    });
    const q = await startTestService({ engine: quick.engine, config: { VERIFY_ACCESS: "off" } });
    try {
      const id = await accepted(q, { method: "POST", url: "/v1/providers", payload: specNamed("real-hang") });
      await waitForEvent(q, id, "resource.started", TIMEOUT, (e) => e.resourceType === KMS_KEY);
      const pid = (q.engine as unknown as { running(): Map<string, number> }).running().get(id)!;
      const tree = descendantsOf(pid);
      expect(tree.length).toBeGreaterThan(1); // the CLI and its plugins
      expect((await q.app.inject({ method: "POST", url: `/v1/operations/${id}/cancel` })).statusCode).toBe(202);
      const ended = await waitForStatus(q, id, ["cancelled", "succeeded", "failed", "interrupted"], TIMEOUT);
      expect(ended.status).toBe("cancelled");
      // The hung create never settles: the graceful cancel cannot finish, and the grace ends in a kill.
      expect(q.logs.some((l) => l.includes('"forced":true') && l.includes("operation cancelled"))).toBe(true);
      // Nothing of the operation runs any more: not the CLI, not the plugin that hung (in a group of its own).
      await until("the engine process tree gone", async () => (tree.every((p) => !alive(p)) ? true : undefined), 10_000);
      const retry = await run(q, { method: "PUT", url: "/v1/providers/real-hang", payload: specNamed("real-hang") });
      expect(retry.status, JSON.stringify(retry.error)).toBe("succeeded");
      const messages = (await events(q, retry.id)).filter((e) => e.type === "diagnostic").map((e) => String(e.message));
      expect(messages.some((m) => m.startsWith(`pending operation from interrupted operation ${id}: creating ${KMS_KEY}`))).toBe(true);
      expect(messages.some((m) => m.startsWith(`recovered the stack after interrupted operation ${id}`))).toBe(true);
    } finally {
      await q.close(5_000);
      await quick.close();
    }
  }, 2 * TIMEOUT);

  it("SIGKILL mid-create: the operation resumes as attempt 2, the real checkpoint's pending operations are reported, the stack refreshed, and it succeeds", async () => {
    behave({ latencyMs: { default: 20, [KMS_KEY]: 5_000 } });
    let id = "";
    try {
      id = await accepted(s, { method: "POST", url: "/v1/providers", payload: specNamed("real-kill") });
      await waitForEvent(s, id, "resource.started", TIMEOUT, (e) => e.resourceType === KMS_KEY);
      // The CLI writes the pending create to the checkpoint before it calls the plugin: kill once a KMS key's is there.
      const pendingNow = () => ((latestCheckpoint(real.dataDir, "real-kill").checkpoint.latest.pending_operations ?? []) as Json[]).map((p) => `${p.type} ${p.resource.urn}`);
      await until("the key create pending in the checkpoint", async () => (pendingNow().some((p) => p.startsWith("creating ") && p.includes(`${KMS_KEY}::real-kill-`)) ? true : undefined), 60_000);
      // Pending operations stay in the checkpoint until a recovery clears them: all of these must be reported.
      const pendingAtKill = pendingNow();
      const pid = (s.engine as unknown as { running(): Map<string, number> }).running().get(id)!;
      killTree(pid, "SIGKILL");
      behave({});
      const ended = await waitForStatus(s, id, ["interrupted", "succeeded", "failed", "cancelled"], 2 * TIMEOUT);
      expect([ended.status, ended.attempt], `${JSON.stringify(ended.error)}\n${warningsOf(s.logs)}`).toEqual(["succeeded", 2]);
      const all = await events(s, id);
      const boundary = all.findIndex((e) => e.type === "operation.resuming");
      expect(all[boundary]?.reason).toMatch(/the engine process ended before the operation finished \(killed by SIGKILL\)/);
      const diagnostics = all.slice(boundary).filter((e) => e.type === "diagnostic").map((e) => String(e.message));
      const reported = diagnostics.filter((m) => m.startsWith(`pending operation from interrupted operation ${id}: `));
      // Each pending operation once; every slow one held at the kill among them (a 20 ms step can end before the SIGKILL lands).
      expect(new Set(reported).size).toBe(reported.length);
      const slow = pendingAtKill.filter((p) => p.includes(`${KMS_KEY}::`)).map((p) => p.split("::").at(-1)!);
      for (const name of slow) expect(reported.some((m) => m.includes(`${KMS_KEY} ${name} never finished`)), `${name}: ${reported.join("; ")}`).toBe(true);
      expect(reported.some((m) => new RegExp(`creating ${KMS_KEY} real-kill-[a-z-]+ never finished`).test(m) && m.includes("`pulumi import`")), reported.join("; ")).toBe(true);
      expect(diagnostics.some((m) => m.startsWith(`recovered the stack after interrupted operation ${id}: stale lock cleared, ${reported.length} pending operation(s) reported`))).toBe(true);
      expect(latestCheckpoint(real.dataDir, "real-kill").checkpoint.latest.pending_operations ?? []).toEqual([]);
    } finally {
      behave({});
    }
  }, 3 * TIMEOUT);

  it("the network hub's firewall policy lists exactly the rule groups the provider stacks created", async () => {
    const names = ["real-hub-a", "real-hub-b"];
    for (const n of names) expect((await run(s, { method: "POST", url: "/v1/providers", payload: specNamed(n) })).status).toBe("succeeded");
    // One policy per region: these providers are in eu-west-1 (others, e.g. globex's eu-central-1, have their own).
    const region = "eu-west-1";
    const listedByPolicy = () => policyRuleGroups(real, region);
    const producedByStacks = () => stackRuleGroups(s, region);
    // Hub updates run after the provider operations that asked for them.
    await until("the policy lists the stacks' rule groups", async () => (JSON.stringify(listedByPolicy()) === JSON.stringify(await producedByStacks()) ? true : undefined), TIMEOUT).catch(async (err: unknown) => {
      const hubOps = await s.db.query(`SELECT status, error FROM operations WHERE intent = 'hub-update' ORDER BY created_at`);
      throw new Error(`${String(err)}: policy ${JSON.stringify(listedByPolicy())}, stacks ${JSON.stringify(await producedByStacks())}, hub updates ${JSON.stringify(hubOps)}`);
    });
    const listed = listedByPolicy();
    expect(listed.length).toBeGreaterThanOrEqual(names.length);
    for (const n of names) expect(listed).toContain(`arn:aws:network-firewall:eu-west-1:222222222222:stateful-rulegroup/saas-${n}`);
    // Every listed group exists in the cloud, as the rule group a provider stack created.
    const groups = new Set(real.cloud.list().filter((r) => r.type === "aws:networkfirewall/ruleGroup:RuleGroup").map((g) => String(g.outputs["arn"])));
    for (const arn of listed) expect(groups.has(arn), arn).toBe(true);

    // The hub's drift check (issue 16): the policy's rule group references edited in the console, reported on the hub.
    const policy = real.cloud.list().find((r) => r.type === "aws:networkfirewall/firewallPolicy:FirewallPolicy" && String(r.outputs["arn"]).includes(`:${region}:`))!;
    real.cloud.put({ ...policy, outputs: { ...policy.outputs, firewallPolicy: { ...(policy.outputs["firewallPolicy"] as Json), statefulRuleGroupReferences: [] } } });
    const drifted = await run(s, { method: "POST", url: `/v1/network-hubs/${region}/drift-checks` });
    const hub = (await s.app.inject({ method: "GET", url: `/v1/network-hubs/${region}` })).json() as Json;
    expect(hub.drift, JSON.stringify(drifted.error)).toMatchObject({ status: "drifted", operationId: drifted.id, resources: [{ change: "update", keys: expect.arrayContaining(["firewallPolicy"]) }] });
    expect((await events(s, drifted.id)).filter((e) => e.type === "security.hub-policy-drifted")).toHaveLength(1);
  }, 3 * TIMEOUT);
});

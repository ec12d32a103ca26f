import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit-codes.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";
import { closedPort, runCli, runCliInPty, type CliRun } from "./run-cli.js";

/**
 * The command-line client (issue 18 part 4) as a subprocess against a service listening on loopback:
 * output on a pipe, under a pseudo-terminal and as JSON, and every exit code a script relies on.
 */
let svc: TestService;
let base: string;
let dir: string;
let admin: Record<string, string>;
const secrets: string[] = [];

beforeAll(async () => {
  svc = await startTestService({ config: { APPROVAL_RULES: ["decommission"], SIMULATED_STEP_MS: 5 } });
  await svc.app.listen({ port: 0, host: "127.0.0.1" });
  base = `http://127.0.0.1:${(svc.app.server.address() as { port: number }).port}`;
  dir = mkdtempSync(join(tmpdir(), "saas-bridge-cli-"));
  admin = { SAAS_BRIDGE_URL: base, SAAS_BRIDGE_TOKEN: svc.adminKey };
  secrets.push(svc.adminKey);
}, 60_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await svc?.close(1_000);
});

function specFile(name: string, base = "acme.json"): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(specNamed(name, base)));
  return path;
}

/** No run ever shows a key it was given, whatever happened. */
function expectNoSecret(run: CliRun): void {
  for (const secret of secrets) {
    expect(run.stdout).not.toContain(secret);
    expect(run.stderr).not.toContain(secret);
  }
}

async function api(method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...svc.authHeaders, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await res.json()) as Record<string, any>;
}

describe("saas-bridge CLI", () => {
  it("onboard on a pipe: the text/plain lines, ending in succeeded, exit 0", async () => {
    const run = await runCli(["onboard", specFile("cli-plain")], admin);
    expectNoSecret(run);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(EXIT.ok);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^create cli-plain — operation [0-9a-f-]{36} \(engine: simulated\)$/);
    expect(lines).toContain("started (attempt 1, engine simulated)");
    expect(lines.some((l) => /^\[\s*\d+\/\d+\] \+ aws:/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^succeeded in \d+\.\ds: \d+ created$/);
    // No terminal, no colour and no carriage returns.
    expect(run.stdout).not.toMatch(/[\r\u001b]/);
    // The first spawn also warms the service's program evaluation: more time than the others.
  }, 90_000);

  it("--json: one event per line, in seq order, the last the terminal one; status --json is one document", async () => {
    const run = await runCli(["onboard", specFile("cli-json"), "--json"], admin);
    expect(run.code).toBe(EXIT.ok);
    const events = run.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { seq: number; type: string });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]!.type).toBe("operation.queued");
    expect(events.at(-1)!.type).toBe("operation.succeeded");

    const [status, verify] = await Promise.all([runCli(["status", "cli-json", "--json"], admin), runCli(["verify", "cli-plain", "--json"], admin)]);
    expect(verify.code).toBe(EXIT.ok);
    const verified = verify.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { type: string; status?: string });
    expect(verified.find((e) => e.type === "verification.finished")?.status).toBe("passed");
    expect(verified.at(-1)!.type).toBe("operation.succeeded");
    expect(status.code).toBe(EXIT.ok);
    const provider = JSON.parse(status.stdout) as { name: string; lifecycle: string };
    expect(provider).toMatchObject({ name: "cli-json", lifecycle: "active" });
  });

  it("on a terminal: a progress bar rewritten in place, then the result; NO_COLOR leaves colour out", async () => {
    const colour = await runCliInPty(["revoke", "cli-plain"], admin);
    expectNoSecret(colour);
    expect(colour.code).toBe(EXIT.ok);
    // The bar: erased and redrawn with a carriage return, done/total and the resource in flight.
    expect(colour.stdout).toContain("\r\u001b[2K");
    expect(colour.stdout).toMatch(/\[#*\.*\] +\d+\/\d+ (creating|updating|deleting|replacing|checking) aws:/);
    expect(colour.stdout).toMatch(/\u001b\[32msucceeded in /);
    // Each completed resource is the bar's, not a line of its own.
    expect(colour.stdout).not.toMatch(/\] [+~-] aws:\S+ \S+ (created|updated|deleted)/);

    const plain = await runCliInPty(["reinstate", "cli-plain"], { ...admin, NO_COLOR: "1" });
    expect(plain.code).toBe(EXIT.ok);
    expect(plain.stdout).toContain("\r\u001b[2K");
    expect(plain.stdout).not.toMatch(/\u001b\[3\dm/);
    expect(plain.stdout).toMatch(/succeeded in /);
  });

  it("usage errors exit 2: bad arguments, an unreadable spec file, a --token flag (refused, not echoed)", async () => {
    const bad = await runCli(["decommission", "cli-plain", "--key", "burn"], admin);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/^error: --key must be retain or shred/);

    const missing = await runCli(["onboard", join(dir, "nope.json")], admin);
    expect(missing.code).toBe(EXIT.usage);
    expect(missing.stderr).toContain("cannot read spec file");

    const flag = await runCli(["status", "cli-plain", `--token=${svc.adminKey}`], { SAAS_BRIDGE_URL: base });
    expect(flag.code).toBe(EXIT.usage);
    expect(flag.stderr).toMatch(/credentials are never taken from the command line/);
    expectNoSecret(flag);
  });

  it("a token file readable by others is refused; mode 0600 works", async () => {
    const file = join(dir, "token");
    writeFileSync(file, `${svc.adminKey}\n`);
    chmodSync(file, 0o644);
    const open = await runCli(["status", "cli-plain"], { SAAS_BRIDGE_URL: base, SAAS_BRIDGE_TOKEN_FILE: file });
    expect(open.code).toBe(EXIT.usage);
    expect(open.stderr).toMatch(/accessible by group or others \(mode 644\).*chmod 600/);
    chmodSync(file, 0o600);
    const ok = await runCli(["status", "cli-plain"], { SAAS_BRIDGE_URL: base, SAAS_BRIDGE_TOKEN_FILE: file });
    expectNoSecret(ok);
    expect(ok.code).toBe(EXIT.ok);
    expect(ok.stdout).toMatch(/^name +cli-plain$/m);
    expect(ok.stdout).toMatch(/^lifecycle +active$/m);
  });

  it("a wrong token exits 3, an unknown provider 4, an unreachable service 6", async () => {
    const wrong = "sbk_not_a_key_at_all_0123456789";
    secrets.push(wrong);
    const [refused, unknown, down] = await Promise.all([
      runCli(["status", "cli-plain"], { SAAS_BRIDGE_URL: base, SAAS_BRIDGE_TOKEN: wrong }),
      runCli(["status", "no-such-provider"], admin),
      closedPort().then((port) => runCli(["list"], { SAAS_BRIDGE_URL: `http://127.0.0.1:${port}`, SAAS_BRIDGE_TOKEN: svc.adminKey })),
    ]);
    expect(refused.code).toBe(EXIT.auth);
    expect(refused.stderr).toMatch(/^error: .+\(UNAUTHENTICATED\)/);
    expectNoSecret(refused);
    expect(unknown.code).toBe(EXIT.notFound);
    expect(unknown.stderr).toMatch(/^error: .+\(NOT_FOUND\)/);
    expect(down.code).toBe(EXIT.unavailable);
    expect(down.stderr).toMatch(/^error: cannot reach the service at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it("a spec the service refuses exits 2 with each path: message; a provider that exists already exits 5", async () => {
    const path = join(dir, "open.json");
    const spec = specNamed("cli-open");
    writeFileSync(path, JSON.stringify({ ...spec, outbound: { ...(spec.outbound as object), allowedSourceCidrs: ["0.0.0.0/0"] } }));
    const [invalid, exists] = await Promise.all([runCli(["onboard", path], admin), runCli(["onboard", specFile("cli-plain")], admin)]);
    expect(invalid.code).toBe(EXIT.usage);
    expect(invalid.stderr).toMatch(/^error: .*\(VALIDATION_FAILED\)$/m);
    expect(invalid.stderr).toMatch(/^ {2}\/outbound\/allowedSourceCidrs\/0: must not be open to the world/m);
    expect(exists.code).toBe(EXIT.conflict);
    expect(exists.stderr).toMatch(/^error: .*\(PROVIDER_EXISTS\)$/m);
  });

  it("approvals: self-approval exits 5; another person approves and follows to the end; a rejected operation followed exits 1", async () => {
    const decommission = await runCli(["decommission", "cli-json", "--no-follow"], admin);
    expect(decommission.code).toBe(EXIT.ok);
    const id = decommission.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await waitForStatus(svc, id, ["awaiting_approval"]);

    const self = await runCli(["approve", id], admin);
    expect(self.code).toBe(EXIT.conflict);
    expect(self.stderr).toMatch(/^error: A change needs a second person/);

    const approver = await svc.createKey("approver", ["data-platform"], "cli-approver");
    secrets.push(approver);
    const approved = await runCli(["approve", id, "--comment", "contract ended"], { SAAS_BRIDGE_URL: base, SAAS_BRIDGE_TOKEN: approver });
    expectNoSecret(approved);
    expect(approved.code).toBe(EXIT.ok);
    expect(approved.stderr).toContain(`approved ${id}`);
    expect(approved.stdout).toMatch(/^approved by /m);
    expect(approved.stdout.trimEnd().split("\n").at(-1)).toMatch(/^succeeded in /);

    // A rejected request is cancelled: following it ends in exit 1.
    const other = await api("DELETE", "/v1/providers/cli-plain");
    const otherId = String(other.operation.id);
    await waitForStatus(svc, otherId, ["awaiting_approval"]);
    const rejected = await runCli(["reject", otherId, "--comment", "not yet"], { SAAS_BRIDGE_URL: base, SAAS_BRIDGE_TOKEN: approver });
    expect(rejected.code).toBe(EXIT.ok);
    const followed = await runCli(["follow", otherId], admin);
    expect(followed.code).toBe(EXIT.failed);
    expect(followed.stdout.trimEnd().split("\n").at(-1)).toMatch(/^cancelled: /);
  }, 60_000);
});

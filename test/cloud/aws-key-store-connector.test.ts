import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAwsKeyStoreConnector } from "../../src/cloud/aws-key-store-connector.js";
import { KeyStoreConnectorError, type KeyStoreStatus, type KeyStoreTarget } from "../../src/onboarding/key-store-connector.js";
import { createFakeKms, type FakeKms } from "../support/fake-kms.js";

/**
 * The real AWS SDK against the loopback KMS/STS test double, reached through the SDK's own endpoint
 * configuration (AWS_ENDPOINT_URL_<SERVICE>), with base credentials from the environment and no shared
 * config files read.
 */

const REGION = "eu-west-1";
const ROLE = "arn:aws:iam::111122223333:role/bridge-deploy";
const STORE = "cks-1234567890abcdef0";
const BASE_KEY_ID = "AKIAIOSFODNN7EXAMPLE";
const BASE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const target: KeyStoreTarget = { region: REGION, roleArn: ROLE, customKeyStoreId: STORE };
const live = (): AbortSignal => new AbortController().signal;

/** Every variable the SDK's default chains read that this file sets or must keep unset. */
const AWS_ENV = [
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_KMS",
  "AWS_ENDPOINT_URL_STS",
  "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_PROFILE",
  "AWS_REGION",
  "AWS_DEFAULT_REGION",
  "AWS_CONFIG_FILE",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_ROLE_ARN",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_EC2_METADATA_DISABLED",
];

let fake: FakeKms;
let saved: Record<string, string | undefined>;
let tempDir: string;

beforeEach(async () => {
  fake = await createFakeKms();
  fake.allowRole(ROLE);
  saved = Object.fromEntries(AWS_ENV.map((name) => [name, process.env[name]]));
  for (const name of AWS_ENV) delete process.env[name];
  tempDir = mkdtempSync(join(tmpdir(), "aws-key-store-"));
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_KMS: fake.url,
    AWS_ENDPOINT_URL_STS: fake.url,
    AWS_ACCESS_KEY_ID: BASE_KEY_ID,
    AWS_SECRET_ACCESS_KEY: BASE_SECRET,
    AWS_REGION: REGION,
    AWS_CONFIG_FILE: join(tempDir, "missing", "config"),
    AWS_SHARED_CREDENTIALS_FILE: join(tempDir, "missing", "credentials"),
    AWS_EC2_METADATA_DISABLED: "true",
  });
});

afterEach(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  rmSync(tempDir, { recursive: true, force: true });
  await fake.close();
});

/** Describes until the state leaves CONNECTING, at most `polls` times. */
async function pollWhileConnecting(connector: ReturnType<typeof createAwsKeyStoreConnector>, polls: number): Promise<KeyStoreStatus[]> {
  const seen: KeyStoreStatus[] = [];
  for (let i = 0; i < polls; i++) {
    const status = await connector.status(target, live());
    seen.push(status);
    if (status.state !== "CONNECTING") break;
  }
  return seen;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable("the call should have been refused"),
    (err: unknown) => err,
  );
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("createAwsKeyStoreConnector", () => {
  it("connects: ConnectCustomKeyStore, then CONNECTING until a describe says CONNECTED", async () => {
    fake.addStore(STORE, { connectAfterPolls: 2 });
    const connector = createAwsKeyStoreConnector();
    expect(connector.name).toBe("aws");

    expect(await connector.status(target, live())).toEqual({ state: "DISCONNECTED" });
    await connector.connect(target, live());
    const seen = await pollWhileConnecting(connector, 10);

    expect(seen).toEqual([{ state: "CONNECTING" }, { state: "CONNECTING" }, { state: "CONNECTED" }]);
    expect(fake.requests.filter((r) => r.service === "kms").map((r) => [r.operation, r.customKeyStoreId])).toEqual([
      ["DescribeCustomKeyStores", STORE],
      ["ConnectCustomKeyStore", STORE],
      ["DescribeCustomKeyStores", STORE],
      ["DescribeCustomKeyStores", STORE],
      ["DescribeCustomKeyStores", STORE],
    ]);
  });

  it("reports FAILED with the ConnectionErrorCode; a FAILED store refuses connect until it is disconnected", async () => {
    fake.addStore(STORE, { failWith: "INVALID_CREDENTIALS" });
    const connector = createAwsKeyStoreConnector();

    await connector.connect(target, live());
    const seen = await pollWhileConnecting(connector, 10);
    expect(seen).toEqual([{ state: "CONNECTING" }, { state: "FAILED", errorCode: "INVALID_CREDENTIALS" }]);

    const refused = await rejection(connector.connect(target, live()));
    expect(refused).toBeInstanceOf(KeyStoreConnectorError);
    expect(refused).toMatchObject({ code: "CustomKeyStoreInvalidStateException" });

    await connector.disconnect(target, live());
    expect(await connector.status(target, live())).toEqual({ state: "DISCONNECTED" });
  });

  it("disconnects a connected store", async () => {
    fake.addStore(STORE, { state: "CONNECTED" });
    const connector = createAwsKeyStoreConnector();

    expect(await connector.status(target, live())).toEqual({ state: "CONNECTED" });
    await connector.disconnect(target, live());

    expect(await connector.status(target, live())).toEqual({ state: "DISCONNECTED" });
    expect(fake.requests.some((r) => r.operation === "DisconnectCustomKeyStore" && r.customKeyStoreId === STORE)).toBe(true);
  });

  it("refuses an unknown store with the service's error name and message", async () => {
    const connector = createAwsKeyStoreConnector();

    const err = await rejection(connector.status({ ...target, customKeyStoreId: "cks-00000000000000000" }, live()));

    expect(err).toBeInstanceOf(KeyStoreConnectorError);
    expect(err).toMatchObject({
      code: "CustomKeyStoreNotFoundException",
      message: "Custom key store cks-00000000000000000 does not exist in this account and Region.",
    });
  });

  it("refuses a connection state it does not know", async () => {
    fake.addStore(STORE, { reportState: "HIBERNATING" });

    const err = await rejection(createAwsKeyStoreConnector().status(target, live()));

    expect(err).toBeInstanceOf(KeyStoreConnectorError);
    expect(err).toMatchObject({ code: "KEY_STORE_UNEXPECTED_RESPONSE", message: expect.stringContaining("HIBERNATING") });
  });

  it("names STS's refusal of a role it may not assume, without any credential in the message, and calls no KMS", async () => {
    fake.addStore(STORE);
    const connector = createAwsKeyStoreConnector();
    const other = "arn:aws:iam::111122223333:role/not-allowed";

    const err = await rejection(connector.status({ ...target, roleArn: other }, live()));

    expect(err).toBeInstanceOf(KeyStoreConnectorError);
    const { code, message } = err as KeyStoreConnectorError;
    expect(code).toBe("AccessDenied");
    expect(message).toContain(`not authorized to perform: sts:AssumeRole on resource: ${other}`);
    expect(message).not.toContain(BASE_SECRET);
    expect(message).not.toContain(BASE_KEY_ID);
    expect(message).not.toMatch(/\n|\bat .+:\d+:\d+/);
    expect(fake.requests.map((r) => [r.service, r.operation, r.roleArn])).toEqual([["sts", "AssumeRole", other]]);
  });

  it("signs KMS calls with the assumed role's key (one AssumeRole per region and role), STS with the base key", async () => {
    const secondRole = "arn:aws:iam::111122223333:role/bridge-deploy-2";
    fake.allowRole(secondRole);
    fake.addStore(STORE, { state: "CONNECTED" });
    const connector = createAwsKeyStoreConnector({ sessionName: "bridge-test@op-1" });

    await connector.status(target, live());
    await connector.status(target, live());
    await connector.status({ ...target, roleArn: secondRole }, live());

    const sts = fake.requests.filter((r) => r.service === "sts");
    expect(sts.map((r) => [r.roleArn, r.accessKeyId, r.sessionName, r.region])).toEqual([
      [ROLE, BASE_KEY_ID, "bridge-test@op-1", REGION],
      [secondRole, BASE_KEY_ID, "bridge-test@op-1", REGION],
    ]);
    const kms = fake.requests.filter((r) => r.service === "kms");
    expect(kms.map((r) => r.roleArn)).toEqual([ROLE, ROLE, secondRole]);
    for (const request of kms) {
      expect(request.accessKeyId).not.toBe(BASE_KEY_ID);
      expect(fake.issued(request.accessKeyId ?? "")?.roleArn).toBe(request.roleArn);
      expect(request.region).toBe(REGION);
    }
  });

  it("rejects promptly with an AbortError when the signal aborts during AssumeRole or the KMS call, and sends nothing when already aborted", async () => {
    fake.addStore(STORE, { state: "CONNECTED" });
    // The abandoned AssumeRole stays in flight (shared by the next call) until its request timeout.
    const connector = createAwsKeyStoreConnector({ requestTimeoutMs: 1_000 });
    const abortedWhile = async (service: "sts" | "kms"): Promise<void> => {
      fake.setDelay(service, 20_000);
      const controller = new AbortController();
      const started = Date.now();
      const pending = rejection(connector.status(target, controller.signal));
      setTimeout(() => controller.abort("cancel"), 200);
      const err = await pending;
      fake.setDelay(service, 0);
      expect(Date.now() - started, service).toBeLessThan(2_000);
      expect(err, service).toBeInstanceOf(Error);
      expect(err, service).not.toBeInstanceOf(KeyStoreConnectorError);
      expect((err as Error).name, service).toBe("AbortError");
    };

    // The SDK's abortSignal does not reach the AssumeRole call that resolves the credentials.
    await abortedWhile("sts");
    await connector.status(target, live());
    await abortedWhile("kms");

    const before = fake.requests.length;
    expect(await rejection(connector.connect(target, AbortSignal.abort("cancel")))).toMatchObject({ name: "AbortError" });
    expect(fake.requests.length).toBe(before);
  });

  it("says KEY_STORE_UNREACHABLE when KMS's port is closed, and when STS's is", async () => {
    fake.addStore(STORE, { state: "CONNECTED" });
    process.env["AWS_ENDPOINT_URL_KMS"] = `http://127.0.0.1:${await closedPort()}`;
    const started = Date.now();

    const kmsDown = await rejection(createAwsKeyStoreConnector({ requestTimeoutMs: 1_000 }).status(target, live()));
    expect(kmsDown).toBeInstanceOf(KeyStoreConnectorError);
    expect(kmsDown).toMatchObject({ code: "KEY_STORE_UNREACHABLE", message: expect.stringContaining("ECONNREFUSED") });

    process.env["AWS_ENDPOINT_URL_KMS"] = fake.url;
    process.env["AWS_ENDPOINT_URL_STS"] = `http://127.0.0.1:${await closedPort()}`;
    const stsDown = await rejection(createAwsKeyStoreConnector({ requestTimeoutMs: 1_000 }).status(target, live()));
    expect(stsDown).toBeInstanceOf(KeyStoreConnectorError);
    expect(stsDown).toMatchObject({ code: "KEY_STORE_UNREACHABLE" });

    expect(Date.now() - started).toBeLessThan(10_000);
    expect(fake.requests.filter((r) => r.service === "kms")).toEqual([]);
  });

  it("says KEY_STORE_UNREACHABLE when KMS does not answer within the request timeout, after 3 attempts", async () => {
    fake.addStore(STORE, { state: "CONNECTED" });
    fake.setDelay("kms", 20_000);
    const connector = createAwsKeyStoreConnector({ requestTimeoutMs: 300 });
    const started = Date.now();

    const err = await rejection(connector.status(target, live()));

    expect(err).toBeInstanceOf(KeyStoreConnectorError);
    expect(err).toMatchObject({ code: "KEY_STORE_UNREACHABLE", message: "KMS or STS did not answer within the request timeout" });
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(fake.requests.filter((r) => r.service === "kms").length).toBe(3);
  });

  it("refuses a session name STS would refuse", () => {
    expect(() => createAwsKeyStoreConnector({ sessionName: "has space" })).toThrow(/sessionName/);
    expect(() => createAwsKeyStoreConnector({ sessionName: "x".repeat(65) })).toThrow(/sessionName/);
  });
});

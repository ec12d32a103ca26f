import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { KeyStoreConnectionState } from "../../src/onboarding/key-store-connector.js";

/**
 * TEST DOUBLE of AWS KMS (custom key store connection calls) and AWS STS (AssumeRole), for the AWS SDK
 * adapter's tests (src/cloud/aws-key-store-connector.ts). One loopback-only HTTP server (127.0.0.1, a free
 * port) speaks both wire protocols the real SDK uses, so the SDK is pointed at it with
 * AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL_STS:
 * - KMS, AWS JSON 1.1: `POST /`, `x-amz-target: TrentService.<Op>`, errors `{"__type", "message"}` (400);
 * - STS, AWS query: form body `Action=AssumeRole&RoleArn=...`, XML answers and XML errors (403).
 * Signatures are not verified; the access key id of each request's SigV4 `Credential=` is recorded, and
 * KMS refuses a key STS did not issue (as AWS refuses an unknown key), so a test can tell which identity
 * signed each call. Anything else is refused (strict): unknown operations, unknown stores, unknown roles.
 */

export interface FakeStoreBehaviour {
  /** The state before any call (default DISCONNECTED). */
  readonly state?: KeyStoreConnectionState;
  /** How many describes report CONNECTING after a connect before it settles (default 1). */
  readonly connectAfterPolls?: number;
  /** Connecting ends FAILED with this ConnectionErrorCode (e.g. INVALID_CREDENTIALS) instead of CONNECTED. */
  readonly failWith?: string;
  /** Describes report this ConnectionState verbatim, e.g. one KMS might add later. */
  readonly reportState?: string;
}

export interface FakeAwsRequest {
  readonly service: "kms" | "sts";
  readonly operation: string;
  /** STS: the role asked for. KMS: the role whose assumed credentials signed the call (undefined if none). */
  readonly roleArn: string | undefined;
  /** The access key id in the SigV4 Authorization header (undefined when unsigned). */
  readonly accessKeyId: string | undefined;
  /** The region of the SigV4 credential scope. */
  readonly region: string | undefined;
  readonly customKeyStoreId?: string;
  /** STS: the RoleSessionName asked for. */
  readonly sessionName?: string;
}

export interface FakeKms {
  /** `http://127.0.0.1:<port>`: the endpoint of both services. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: readonly FakeAwsRequest[];
  addStore(customKeyStoreId: string, behaviour?: FakeStoreBehaviour): void;
  /**
   * Stores created elsewhere (by the stand-in AWS plugin, whose ids a test cannot know in advance) become
   * known on first sight with this behaviour; undefined turns it off again.
   */
  adoptUnknownStores(behaviour: FakeStoreBehaviour | undefined): void;
  /** Lets AssumeRole succeed for this role; any other role is AccessDenied. */
  allowRole(roleArn: string): void;
  /** Holds each answer of one service (or both) for `ms` before sending it (0: answer at once). */
  setDelay(service: "kms" | "sts" | "all", ms: number): void;
  /** The credentials AssumeRole issued, by access key id. */
  issued(accessKeyId: string): { roleArn: string; secretAccessKey: string; sessionToken: string } | undefined;
  close(): Promise<void>;
}

interface StoreRecord {
  state: KeyStoreConnectionState;
  errorCode: string | undefined;
  pollsLeft: number;
  readonly behaviour: FakeStoreBehaviour;
}

class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const ACCOUNT = "111122223333";
const MAX_BODY_BYTES = 64 * 1024;

export async function createFakeKms(): Promise<FakeKms> {
  const stores = new Map<string, StoreRecord>();
  const roles = new Set<string>();
  const issuedKeys = new Map<string, { roleArn: string; secretAccessKey: string; sessionToken: string }>();
  const requests: FakeAwsRequest[] = [];
  const delays = { kms: 0, sts: 0 };
  const timers = new Set<NodeJS.Timeout>();

  const later = (ms: number, fn: () => void): void => {
    if (ms <= 0) return fn();
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  let adopt: FakeStoreBehaviour | undefined;
  const storeOf = (id: unknown): StoreRecord => {
    if (adopt && typeof id === "string" && /^cks-[0-9a-f]{17}$/.test(id) && !stores.has(id)) {
      stores.set(id, { state: adopt.state ?? "DISCONNECTED", errorCode: undefined, pollsLeft: 0, behaviour: adopt });
    }
    const store = typeof id === "string" ? stores.get(id) : undefined;
    if (!store) throw new KmsError("CustomKeyStoreNotFoundException", `Custom key store ${String(id)} does not exist in this account and Region.`);
    return store;
  };

  const describeEntry = (id: string, store: StoreRecord): Record<string, unknown> => {
    const entry = {
      CustomKeyStoreId: id,
      CustomKeyStoreName: `store-${id}`,
      CustomKeyStoreType: "AWS_CLOUDHSM",
      CloudHsmClusterId: "cluster-234abcdefgh",
      ConnectionState: store.behaviour.reportState ?? store.state,
      CreationDate: 1_700_000_000,
      ...(store.errorCode ? { ConnectionErrorCode: store.errorCode } : {}),
    };
    // A connection in progress advances one step per describe, as a poller sees it.
    if (store.state === "CONNECTING" && --store.pollsLeft <= 0) {
      store.state = store.behaviour.failWith ? "FAILED" : "CONNECTED";
      store.errorCode = store.behaviour.failWith;
    }
    return entry;
  };

  const kms = (operation: string, input: Record<string, unknown>): Record<string, unknown> => {
    switch (operation) {
      case "DescribeCustomKeyStores": {
        const id = input["CustomKeyStoreId"];
        if (id === undefined) return { CustomKeyStores: [...stores].map(([key, store]) => describeEntry(key, store)), Truncated: false };
        return { CustomKeyStores: [describeEntry(String(id), storeOf(id))], Truncated: false };
      }
      case "ConnectCustomKeyStore": {
        const store = storeOf(input["CustomKeyStoreId"]);
        // KMS refuses ConnectCustomKeyStore only from DISCONNECTING and FAILED (a FAILED store is disconnected first).
        if (store.state === "FAILED" || store.state === "DISCONNECTING") {
          throw new KmsError("CustomKeyStoreInvalidStateException", `Custom key store ${String(input["CustomKeyStoreId"])} is in state ${store.state}.`);
        }
        if (store.state === "DISCONNECTED") {
          store.state = "CONNECTING";
          store.errorCode = undefined;
          store.pollsLeft = store.behaviour.connectAfterPolls ?? 1;
        }
        return {};
      }
      case "DisconnectCustomKeyStore": {
        const store = storeOf(input["CustomKeyStoreId"]);
        store.state = "DISCONNECTED";
        store.errorCode = undefined;
        return {};
      }
      default:
        throw new KmsError("UnknownOperationException", `The fake does not implement ${operation}.`);
    }
  };

  const answerKms = (req: IncomingMessage, res: ServerResponse, body: string, accessKeyId: string | undefined, region: string | undefined): void => {
    const target = String(req.headers["x-amz-target"]);
    const operation = target.startsWith("TrentService.") ? target.slice("TrentService.".length) : target;
    let status = 200;
    let payload: Record<string, unknown>;
    let input: Record<string, unknown> = {};
    const issuedTo = accessKeyId ? issuedKeys.get(accessKeyId) : undefined;
    try {
      input = JSON.parse(body || "{}") as Record<string, unknown>;
      if (!issuedTo) throw new KmsError("UnrecognizedClientException", "The security token included in the request is invalid.");
      payload = kms(operation, input);
    } catch (err) {
      status = 400;
      payload = err instanceof KmsError ? { __type: err.type, message: err.message } : { __type: "SerializationException", message: "Malformed request." };
    }
    const id = input["CustomKeyStoreId"];
    requests.push({
      service: "kms",
      operation,
      roleArn: issuedTo?.roleArn,
      accessKeyId,
      region,
      ...(typeof id === "string" ? { customKeyStoreId: id } : {}),
    });
    later(delays.kms, () => send(res, status, "application/x-amz-json-1.1", JSON.stringify(payload)));
  };

  const answerSts = (res: ServerResponse, form: URLSearchParams, accessKeyId: string | undefined, region: string | undefined): void => {
    const operation = form.get("Action") ?? "";
    const roleArn = form.get("RoleArn") ?? undefined;
    const session = form.get("RoleSessionName") ?? "";
    requests.push({ service: "sts", operation, roleArn, accessKeyId, region, sessionName: session });
    const requestId = randomUUID();
    let status = 200;
    let xml: string;
    if (operation !== "AssumeRole") {
      status = 400;
      xml = stsError("Sender", "InvalidAction", `Could not find operation ${operation} for version ${form.get("Version") ?? ""}`, requestId);
    } else if (!roleArn || !roles.has(roleArn)) {
      status = 403;
      xml = stsError(
        "Sender",
        "AccessDenied",
        `User: arn:aws:iam::${ACCOUNT}:user/base is not authorized to perform: sts:AssumeRole on resource: ${roleArn ?? ""}`,
        requestId,
      );
    } else {
      const key = `ASIA${randomBytes(8).toString("hex").toUpperCase()}`;
      const credentials = { roleArn, secretAccessKey: randomBytes(30).toString("base64"), sessionToken: randomBytes(60).toString("base64") };
      issuedKeys.set(key, credentials);
      const expiration = new Date(Date.now() + Number(form.get("DurationSeconds") ?? "900") * 1000).toISOString();
      xml = [
        `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>`,
        `<Credentials><AccessKeyId>${key}</AccessKeyId><SecretAccessKey>${credentials.secretAccessKey}</SecretAccessKey>`,
        `<SessionToken>${credentials.sessionToken}</SessionToken><Expiration>${expiration}</Expiration></Credentials>`,
        `<AssumedRoleUser><AssumedRoleId>AROA3XFRBF535PLBIFPI4:${escapeXml(session)}</AssumedRoleId>`,
        `<Arn>${escapeXml(roleArn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/"))}/${escapeXml(session)}</Arn></AssumedRoleUser>`,
        `</AssumeRoleResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
      ].join("");
    }
    later(delays.sts, () => send(res, status, "text/xml", xml, requestId));
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const { accessKeyId, region } = signer(req.headers.authorization);
      const contentType = String(req.headers["content-type"] ?? "");
      if (req.method === "POST" && req.headers["x-amz-target"] !== undefined) return answerKms(req, res, body, accessKeyId, region);
      if (req.method === "POST" && contentType.startsWith("application/x-www-form-urlencoded")) {
        return answerSts(res, new URLSearchParams(body), accessKeyId, region);
      }
      send(res, 404, "text/plain", `the fake answers KMS (x-amz-target) and STS (Action=) only, not ${req.method ?? ""} ${req.url ?? ""}`);
    });
  });
  server.keepAliveTimeout = 1_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    addStore(customKeyStoreId, behaviour = {}) {
      stores.set(customKeyStoreId, { state: behaviour.state ?? "DISCONNECTED", errorCode: undefined, pollsLeft: 0, behaviour });
    },
    adoptUnknownStores(behaviour) {
      adopt = behaviour;
    },
    allowRole(roleArn) {
      roles.add(roleArn);
    },
    setDelay(service, ms) {
      if (service !== "sts") delays.kms = ms;
      if (service !== "kms") delays.sts = ms;
    },
    issued: (accessKeyId) => issuedKeys.get(accessKeyId),
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The access key id and region of a SigV4 `Authorization: AWS4-HMAC-SHA256 Credential=<AKID>/<date>/<region>/<service>/aws4_request, ...`. */
function signer(authorization: string | undefined): { accessKeyId: string | undefined; region: string | undefined } {
  const match = /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\//.exec(authorization ?? "");
  return { accessKeyId: match?.[1], region: match?.[2] };
}

function send(res: ServerResponse, status: number, contentType: string, body: string, requestId: string = randomUUID()): void {
  if (res.destroyed) return;
  res.writeHead(status, { "content-type": contentType, "x-amzn-requestid": requestId, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function stsError(type: string, code: string, message: string, requestId: string): string {
  return (
    `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>${type}</Type><Code>${code}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

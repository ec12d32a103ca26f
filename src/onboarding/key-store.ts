import { X509Certificate } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { EngineFailure, type EngineEvent } from "../engine/engine.js";
import { AppError } from "../errors.js";
import type { KeyStoreConnector, KeyStoreStatus, KeyStoreTarget } from "./key-store-connector.js";
import { KeyStoreConnectorError } from "./key-store-connector.js";

/**
 * CloudHSM key store, phase 2 (issue 12): what the operator hands over once the cluster is initialised,
 * checked at the edge, and the connect step the service runs between the two ups of a `key-store`
 * operation (no Pulumi resource calls ConnectCustomKeyStore).
 */

/** KMS CreateCustomKeyStore KeyStorePassword: 7-32 characters; printable ASCII here (it travels on stdin and in PEM-free JSON). */
export const KMSUSER_PASSWORD = /^[\x20-\x7e]{7,32}$/;
const PEM_CERTIFICATE = /^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?$/;

export interface KeyStoreSubmission {
  readonly trustAnchorCertificate: string;
  readonly kmsuserPassword: string;
}

/**
 * The trust anchor must be one PEM certificate that can issue certificates (the CA that signed the
 * cluster's CSR) and is valid now: KMS would refuse anything else only after the HSM is paid for and the
 * store created. Returns its SHA-256 fingerprint (what the audit record names).
 */
export function checkTrustAnchor(pem: string, now = new Date()): string {
  const fail = (message: string): never => {
    throw new AppError("VALIDATION_FAILED", "The trust anchor certificate is not usable.", { errors: [{ path: "/trustAnchorCertificate", message }] });
  };
  const text = pem.trim() + "\n";
  if (!PEM_CERTIFICATE.test(text)) fail("must be exactly one PEM certificate (customerCA.crt: -----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)");
  let cert: X509Certificate | undefined;
  try {
    cert = new X509Certificate(text);
  } catch {
    fail("is not a parseable X.509 certificate");
  }
  if (!cert) return fail("is not a parseable X.509 certificate");
  if (!cert.ca) fail("is not a CA certificate (basicConstraints CA:TRUE): use the issuing CA's certificate that signed the cluster's CSR");
  if (Date.parse(cert.validFrom) > now.getTime()) fail(`is not valid before ${new Date(cert.validFrom).toISOString()}`);
  if (Date.parse(cert.validTo) <= now.getTime()) fail(`expired on ${new Date(cert.validTo).toISOString()}`);
  return cert.fingerprint256;
}

export interface ConnectOptions {
  readonly emit: (event: EngineEvent) => Promise<void>;
  readonly signal: AbortSignal;
  /** Between two DescribeCustomKeyStores calls. */
  readonly pollMs: number;
  /** Give up (the store may still connect; a retry picks it up) after this long. */
  readonly timeoutMs: number;
}

/** What each KMS ConnectionErrorCode asks the operator to do (AWS KMS "Troubleshooting a custom key store"). */
const FIXES: Readonly<Record<string, string>> = {
  INVALID_CREDENTIALS: "the kmsuser password is wrong: PUT /key-store again with the password of the cluster's kmsuser",
  USER_NOT_FOUND: "the cluster has no crypto user kmsuser: create it (CloudHSM CLI `user create --username kmsuser --role crypto-user`), then PUT /key-store again",
  USER_LOCKED_OUT: "kmsuser is locked out (too many failed logins): reset its password with the CloudHSM CLI, then PUT /key-store again with it",
  USER_LOGGED_IN: "kmsuser is logged in to the cluster: log it out of every CloudHSM client, then PUT /key-store again",
  INSUFFICIENT_CLOUDHSM_HSMS: "the cluster needs two active HSMs in different AZs: check the HSMs' state, then PUT /key-store again",
  INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET: "a subnet of the cluster has no free address for KMS's network interface: free addresses, then PUT /key-store again",
  CLUSTER_NOT_FOUND: "KMS cannot find the cluster: check that it exists and is initialised",
  SUBNET_NOT_FOUND: "a subnet of the cluster was deleted: restore it, then PUT /key-store again",
  NETWORK_ERRORS: "KMS cannot reach the cluster: check the cluster's security group allows KMS (TCP 2223-2225) and the subnets' network ACLs",
  INTERNAL_ERROR: "KMS failed internally: PUT /key-store again to retry",
};

/**
 * Connects the store and waits, bounded in time, until KMS reports it CONNECTED. A store in FAILED (or
 * one left connecting by an earlier attempt) is handled as AWS requires: a failed store is disconnected
 * before it is connected again, and is left disconnected after a failure, so that a corrected password can
 * be applied (UpdateCustomKeyStore needs it disconnected). Every state change is reported.
 */
export async function connectKeyStore(connector: KeyStoreConnector, target: KeyStoreTarget, options: ConnectOptions): Promise<void> {
  const { emit, signal } = options;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`;
  const call = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      if (err instanceof KeyStoreConnectorError) throw new EngineFailure("KEY_STORE_CONNECT_FAILED", `${what} ${target.customKeyStoreId}: ${err.code}: ${err.message}`);
      throw err;
    }
  };
  const status = () => call("DescribeCustomKeyStores", () => connector.status(target, signal));
  const info = (message: string) => emit({ type: "diagnostic", severity: "info", message: `key store ${target.customKeyStoreId}: ${message}` });

  let now: KeyStoreStatus = await status();
  await info(`${now.state}${now.errorCode ? ` (${now.errorCode})` : ""} (${connector.name})`);
  if (now.state === "CONNECTED") return;
  if (now.state === "FAILED") {
    await info(`disconnecting it first: an earlier connection failed with ${now.errorCode ?? "no code"}`);
    await call("DisconnectCustomKeyStore", () => connector.disconnect(target, signal));
    now = await until((s) => s.state === "DISCONNECTED", "DISCONNECTED");
  }
  if (now.state === "DISCONNECTING") now = await until((s) => s.state === "DISCONNECTED", "DISCONNECTED");
  if (now.state === "DISCONNECTED") {
    await call("ConnectCustomKeyStore", () => connector.connect(target, signal));
    await info("ConnectCustomKeyStore sent; KMS logs in to the cluster as kmsuser (this takes minutes)");
  }
  now = await until((s) => s.state === "CONNECTED" || s.state === "FAILED", "CONNECTED");
  if (now.state === "FAILED") {
    const code = now.errorCode ?? "no ConnectionErrorCode";
    await call("DisconnectCustomKeyStore", () => connector.disconnect(target, signal)).catch(() => undefined);
    throw new EngineFailure("KEY_STORE_CONNECT_FAILED", `KMS could not connect key store ${target.customKeyStoreId}: ${code}; ${FIXES[code] ?? "see the AWS KMS troubleshooting guide for this code, then PUT /key-store again"}`);
  }
  await info(`CONNECTED after ${elapsed()}`);

  async function until(done: (s: KeyStoreStatus) => boolean, goal: string): Promise<KeyStoreStatus> {
    let last = now.state;
    for (;;) {
      const s = await status();
      if (s.state !== last) await info(`${s.state}${s.errorCode ? ` (${s.errorCode})` : ""} after ${elapsed()}`);
      last = s.state;
      if (done(s)) return s;
      if (Date.now() + options.pollMs > deadline) {
        throw new EngineFailure(
          "KEY_STORE_CONNECT_TIMEOUT",
          `key store ${target.customKeyStoreId} was not ${goal} within ${Math.round(options.timeoutMs / 1000)}s (last state ${s.state}); KMS may still get there: PUT /key-store again to continue`,
        );
      }
      await sleep(options.pollMs, undefined, { signal });
    }
  }
}

/** Where a provider's CloudHSM key store stands, for GET /v1/providers/:name. */
export interface KeyStoreView {
  readonly state: "awaiting-initialisation" | "submitted" | "created" | "connected";
  readonly clusterId?: string;
  readonly customKeyStoreId?: string;
  /** Every step to an HSM-backed key, in order: a person's until the hand-over, then the service's. */
  readonly steps: readonly { readonly step: string; readonly by: "operator" | "saas-bridge"; readonly done: boolean }[];
}

/** Undefined unless the provider's spec uses keyStore "cloudhsm". */
export function keyStoreView(
  provider: { readonly name: string; readonly spec: Record<string, unknown>; readonly outputs: Record<string, unknown> },
  row: { readonly state: "submitted" | "created" | "connected"; readonly custom_key_store_id: string | null } | undefined,
): KeyStoreView | undefined {
  if ((provider.spec["kms"] as Record<string, unknown> | undefined)?.["keyStore"] !== "cloudhsm") return undefined;
  const hsm = provider.outputs["cloudHsm"] as { clusterId?: unknown; customKeyStoreId?: unknown } | undefined;
  const clusterId = typeof hsm?.clusterId === "string" ? hsm.clusterId : undefined;
  const customKeyStoreId = row?.custom_key_store_id ?? (typeof hsm?.customKeyStoreId === "string" ? hsm.customKeyStoreId : undefined);
  const state = row?.state ?? "awaiting-initialisation";
  const handedOver = row !== undefined;
  const created = customKeyStoreId !== undefined;
  const connected = state === "connected";
  return {
    state,
    ...(clusterId ? { clusterId } : {}),
    ...(customKeyStoreId ? { customKeyStoreId } : {}),
    steps: [
      { step: "cluster and first HSM created", by: "saas-bridge", done: clusterId !== undefined },
      { step: "sign the cluster's CSR with your issuing CA (keep customerCA.crt)", by: "operator", done: handedOver },
      { step: "initialise and activate the cluster", by: "operator", done: handedOver },
      { step: 'create the crypto user "kmsuser"', by: "operator", done: handedOver },
      { step: `hand over customerCA.crt and the kmsuser password: PUT /v1/providers/${provider.name}/key-store`, by: "operator", done: handedOver },
      { step: "second HSM and KMS custom key store created", by: "saas-bridge", done: created },
      { step: "custom key store connected", by: "saas-bridge", done: connected },
      { step: "HSM-backed BYOK key created", by: "saas-bridge", done: connected && typeof provider.outputs["keyArn"] === "string" },
    ],
  };
}

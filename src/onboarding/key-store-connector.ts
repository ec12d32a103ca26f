/**
 * The port through which the key-store use case connects a CloudHSM key store (issue 12): no Pulumi
 * resource calls KMS ConnectCustomKeyStore (research aws-design.md §1.7), so the service does, between two
 * ups of the same operation. Implementations: the AWS SDK one (src/cloud/aws-key-store-connector.ts) and
 * the simulated engine's (src/cloud/simulated-key-store-connector.ts). Neither knows HTTP or providers.
 */

/** One custom key store, and how to reach it: the bridge account's deploy role, in the provider's region. */
export interface KeyStoreTarget {
  readonly region: string;
  /** The role in the bridge account the call is made as (the role the bridge AWS provider assumes). */
  readonly roleArn: string;
  /** `cks-` followed by 17 hex digits. */
  readonly customKeyStoreId: string;
}

/** KMS CustomKeyStoresListEntry.ConnectionState. */
export const KEY_STORE_STATES = ["CONNECTED", "CONNECTING", "DISCONNECTED", "DISCONNECTING", "FAILED"] as const;
export type KeyStoreConnectionState = (typeof KEY_STORE_STATES)[number];

export interface KeyStoreStatus {
  readonly state: KeyStoreConnectionState;
  /** KMS ConnectionErrorCode when the state is FAILED (or DISCONNECTED after a failure), e.g. INVALID_CREDENTIALS. */
  readonly errorCode?: string;
}

export interface KeyStoreConnector {
  /** `aws` or `simulated`: shown in the operation's events. */
  readonly name: string;
  /** DescribeCustomKeyStores for this one store. */
  status(target: KeyStoreTarget, signal: AbortSignal): Promise<KeyStoreStatus>;
  /** ConnectCustomKeyStore: starts connecting (returns at once; the state says when it is done). */
  connect(target: KeyStoreTarget, signal: AbortSignal): Promise<void>;
  /** DisconnectCustomKeyStore (a FAILED store must be disconnected before it can be connected again). */
  disconnect(target: KeyStoreTarget, signal: AbortSignal): Promise<void>;
}

/**
 * A call the cloud refused or could not answer. `code` is the AWS error name (for example
 * `CustomKeyStoreNotFoundException`, `AccessDeniedException`) or `KEY_STORE_UNREACHABLE`; the message is the
 * service's own, without credentials, request ids or the caller's environment.
 */
export class KeyStoreConnectorError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "KeyStoreConnectorError";
  }
}

import type { KeyStoreConnector, KeyStoreStatus } from "../onboarding/key-store-connector.js";

/**
 * The simulated engine's KMS (ENGINE=simulated: nothing exists in AWS, so nothing is called): a store
 * connects as soon as it is asked to, and stays connected while this process runs. Every event of the
 * connect step names it (`simulated`), as every operation of the simulated engine says `engine: simulated`.
 */
export function createSimulatedKeyStoreConnector(): KeyStoreConnector {
  const connected = new Set<string>();
  return {
    name: "simulated",
    async status(target): Promise<KeyStoreStatus> {
      return { state: connected.has(target.customKeyStoreId) ? "CONNECTED" : "DISCONNECTED" };
    },
    async connect(target) {
      connected.add(target.customKeyStoreId);
    },
    async disconnect(target) {
      connected.delete(target.customKeyStoreId);
    },
  };
}

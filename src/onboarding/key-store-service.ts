import { approvalRuleFor } from "../approvals/policy.js";
import type { Actor } from "../auth/actor.js";
import { AppError } from "../errors.js";
import { accept, type Accepted, type Idempotency } from "./accept.js";
import { checkTrustAnchor, type KeyStoreSubmission } from "./key-store.js";
import { getKeyStore, submitKeyStore as storeSubmission } from "./key-stores-repo.js";
import { admitWith, providerLink, type ProvidersDeps } from "./providers-service.js";
import { keyStoreSealContext } from "./runner-hooks.js";

/**
 * CloudHSM phase 2 through the API (issue 12): the operator hands over the trust anchor and the kmsuser
 * password once the cluster is initialised; a `key-store` operation then adds the second HSM and the KMS
 * custom key store, connects it, and creates the HSM-backed BYOK key in it (runner-hooks.ts). The password
 * is stored only sealed and travels to the engine as secret stack config; the audit record names the
 * certificate's fingerprint, never the password.
 */
export async function submitKeyStore(
  deps: ProvidersDeps,
  actor: Actor,
  name: string,
  submission: KeyStoreSubmission,
  idempotency?: Idempotency,
): Promise<Accepted> {
  const fingerprint = checkTrustAnchor(submission.trustAnchorCertificate);
  const sealer = deps.sealer;
  if (!sealer) throw new AppError("INVALID_STATE", "This service instance cannot store key-store credentials (no sealing key is configured).");
  return accept(deps, { actor, action: "provider.key-store", idempotency, details: { keyStore: { trustAnchorSha256: fingerprint } } }, async (tx, newOperation) => {
    const { admission, provider } = await admitWith(tx, actor, name, "key-store");
    if (provider.spec["kms"] === undefined || (provider.spec["kms"] as Record<string, unknown>)["keyStore"] !== "cloudhsm") {
      throw new AppError("INVALID_STATE", `Provider "${name}" has no CloudHSM key store.`, {
        errors: [{ path: "/kms/keyStore", message: 'the provider\'s spec uses keyStore "kms"; a key store is only handed over for keyStore "cloudhsm"' }],
      });
    }
    const existing = await getKeyStore(tx, name, provider.generation);
    if (existing?.state === "connected") {
      // An operation stopped between the connect and the key's up: the next run of the provider creates it.
      const keyPending = typeof provider.outputs["keyArn"] !== "string" ? " Its key is created by the provider's next run: PUT the same spec." : "";
      throw new AppError("INVALID_STATE", `The key store of "${name}" is already connected.${keyPending}`, {
        errors: [{ path: "/kmsuserPassword", message: "KMS rotated the kmsuser password when it connected the store; it is KMS's to manage now" }],
        links: { provider: providerLink(name) },
      });
    }
    await storeSubmission(tx, {
      provider: name,
      generation: provider.generation,
      trustAnchorCertificate: submission.trustAnchorCertificate.trim() + "\n",
      passwordSealed: sealer.seal(keyStoreSealContext(name, provider.generation), submission.kmsuserPassword),
    });
    const approvalRule = approvalRuleFor(deps.approvals.rules, "key-store", [provider.spec]);
    return newOperation({ provider: name, intent: "key-store", kind: "up", accessState: admission.accessState, spec: provider.spec, specHash: provider.spec_hash, approvalRule });
  });
}

/** What PUT /key-store's Idempotency-Key fingerprint covers: the password only as a keyed hash. */
export function keyStoreFingerprintBody(deps: Pick<ProvidersDeps, "sealer">, name: string, submission: KeyStoreSubmission): Record<string, unknown> {
  return { trustAnchorCertificate: submission.trustAnchorCertificate, kmsuserPassword: deps.sealer?.fingerprint(`idempotency|${name}`, submission.kmsuserPassword) ?? null };
}

import type { Provider } from "../types";
import { Time } from "../ui";

// The "Status" section of a provider: lifecycle, generation, drift, expiry, last access verification.

export function ProviderStatus({ provider }: { provider: Provider }) {
  const { drift, expiry, verification } = provider;
  return (
    <section aria-labelledby="status-heading">
      <h2 id="status-heading">Status</h2>
      <dl class="facts">
        <dt>Team</dt><dd>{provider.team}</dd>
        <dt>Lifecycle</dt><dd>{provider.lifecycle}</dd>
        <dt>Generation</dt><dd>{provider.generation}</dd>
        <dt>Drift status</dt>
        <dd>
          {words(drift.status)}
          {drift.checkedAt && <>, checked <Time value={drift.checkedAt} /></>}
          {drift.reason ? ` (${drift.reason})` : !drift.checkedAt && ", never checked"}
        </dd>
        <dt>Expiry</dt>
        <dd>
          {expiry ? <>expires <Time value={expiry.expiresAt} />{expiry.expiredAt && <>; expired <Time value={expiry.expiredAt} /></>}</> : "does not expire"}
        </dd>
        <dt>Updated</dt><dd><Time value={provider.updatedAt} /></dd>
      </dl>
      <h3>Access verification</h3>
      {verification ? (
        <>
          <p>
            Verification {verification.status} (expected: {verification.expectation}), checked <Time value={verification.checkedAt} />.
          </p>
          <ul class="checks">
            {verification.checks.map((c) => (
              <li key={c.code}><code>{c.code}</code>: {c.status}{c.message ? ` — ${c.message}` : ""}</li>
            ))}
          </ul>
        </>
      ) : (
        <p class="muted">Access has never been verified.</p>
      )}
    </section>
  );
}

/** in_sync → "in sync": the API's enums read as words on screen. */
export const words = (value: string) => value.replace(/_/g, " ");

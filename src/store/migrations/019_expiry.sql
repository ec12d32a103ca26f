-- Access that expires (issue 16). Each step the service takes for a provider's `expiresAt` is recorded
-- once: a warning `warn-<days>d` before it, then `expired` (the revoke it queued, if one was needed).
-- The primary key is what makes each step happen exactly once across replicas: the step's row commits in
-- the transaction that acts (the notice, the revoke), and a racing replica's insert does nothing. A new
-- `expiresAt` (an update that extends it) starts a new set of steps.
CREATE TABLE expiry_steps (
  provider text NOT NULL,
  expires_at timestamptz NOT NULL,
  step text NOT NULL CHECK (step ~ '^(warn-[0-9]{1,3}d|expired)$'),
  taken_at timestamptz NOT NULL DEFAULT now(),
  -- `expired` only: the revoke it queued; NULL when the provider was already revoked or going away.
  operation_id text,
  PRIMARY KEY (provider, expires_at, step)
);

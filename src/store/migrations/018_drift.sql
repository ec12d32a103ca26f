-- Drift detection on a schedule (issue 16, part 1).

-- The provider's last known drift: {status, checkedAt, operationId, resources[{urn, type, change, keys}], reason?}.
-- NULL = never checked (shown as `unknown`). Key names only, never values.
ALTER TABLE providers ADD COLUMN drift jsonb;
CREATE INDEX providers_drift_status ON providers ((coalesce(drift->>'status', 'unknown')));

-- Scheduled drift checks queue at priority 2: after a person's (0) and a rollout's (1). Added NOT VALID
-- (no scan under an exclusive lock on operations) and validated by 020.
ALTER TABLE operations DROP CONSTRAINT operations_priority_check;
ALTER TABLE operations ADD CONSTRAINT operations_priority_check_v2 CHECK (priority IN (0, 1, 2)) NOT VALID;

-- One row per stack the schedule checks: when its next drift check is due. Every replica sweeps; a due row is
-- claimed FOR UPDATE SKIP LOCKED and moved to its next slot in the transaction that queues the check, so one
-- replica queues each check.
CREATE TABLE drift_schedule (
  stack               text PRIMARY KEY,
  next_at             timestamptz NOT NULL,
  last_queued_at      timestamptz,
  last_operation_id   uuid
);
CREATE INDEX drift_schedule_due ON drift_schedule (next_at);

-- TEST DOUBLE of the simulated engine: what "the cloud" holds now where it differs from the stack's state
-- (a change made or a resource deleted outside Pulumi). Only tests write it; a refresh (drift check) of the
-- simulated engine compares its state with it. The Pulumi engine never reads it.
CREATE TABLE simulated_drift (
  stack    text NOT NULL,
  urn      text NOT NULL,
  change   text NOT NULL CHECK (change IN ('update', 'delete')),
  -- update: the inputs whose values now differ in the cloud (key → value); delete: {}.
  inputs   jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (stack, urn)
);

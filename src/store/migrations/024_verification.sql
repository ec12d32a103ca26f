-- Access verification from AWS (issue 17, part 1).

-- The provider's latest verification: {operationId, status, expectation, reader, checkedAt, durationMs, calls,
-- checks[{code, status, message, evidence}]}. NULL = never verified. Ids only, never secrets.
ALTER TABLE providers ADD COLUMN verification jsonb;
CREATE INDEX providers_verification_status ON providers ((coalesce(verification->>'status', 'unverified')));

-- An on-demand verification is an operation of its own (intent and kind `verify`): it reads AWS and changes
-- nothing. Both constraints are re-added NOT VALID (no scan under an exclusive lock) and validated by 025.
ALTER TABLE operations DROP CONSTRAINT operations_intent_check;
ALTER TABLE operations ADD CONSTRAINT operations_intent_check
  CHECK (intent IN ('create','update','revoke','reinstate','decommission','preview','drift-check','hub-update','key-store','verify')) NOT VALID;
ALTER TABLE operations DROP CONSTRAINT operations_kind_check;
ALTER TABLE operations ADD CONSTRAINT operations_kind_check
  CHECK (kind IN ('up','preview','refresh','destroy','verify')) NOT VALID;

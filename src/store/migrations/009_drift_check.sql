-- Drift check (issue #11): an operation that compares a provider's stack with the cloud (a refresh
-- preview) and changes nothing.
ALTER TABLE operations DROP CONSTRAINT operations_intent_check;
ALTER TABLE operations ADD CONSTRAINT operations_intent_check
  CHECK (intent IN ('create','update','revoke','reinstate','decommission','preview','drift-check','hub-update'));

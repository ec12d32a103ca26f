-- Validates the intent CHECK 012 re-added NOT VALID, in a transaction of its own (as 011 does): the scan
-- holds only a SHARE UPDATE EXCLUSIVE lock, so requests and the runner keep going meanwhile.
ALTER TABLE operations VALIDATE CONSTRAINT operations_intent_check;

-- Validates the constraints 024 re-added NOT VALID, in a transaction of its own (reads and writes go on).
ALTER TABLE operations VALIDATE CONSTRAINT operations_intent_check;
ALTER TABLE operations VALIDATE CONSTRAINT operations_kind_check;

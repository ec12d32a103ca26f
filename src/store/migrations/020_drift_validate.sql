-- Validates the priority constraint 018 added NOT VALID (its own transaction; reads and writes go on).
ALTER TABLE operations VALIDATE CONSTRAINT operations_priority_check_v2;

-- Validates the stack-kind constraint 021 added NOT VALID (its own transaction; reads and writes go on).
ALTER TABLE operations VALIDATE CONSTRAINT operations_stack_kind_check_v2;

-- Validates what 015 added NOT VALID, in a transaction of its own: the scan takes a lock that lets reads
-- and writes of operations go on.
ALTER TABLE operations VALIDATE CONSTRAINT operations_rollout_fkey;
ALTER TABLE operations VALIDATE CONSTRAINT operations_priority_check;

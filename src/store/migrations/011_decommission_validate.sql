-- Validates the CHECK constraints 010 added NOT VALID, in a transaction of its own: VALIDATE CONSTRAINT
-- scans operations under a SHARE UPDATE EXCLUSIVE lock, so requests and the runner keep reading and
-- writing meanwhile (on a database that applied 010 before it used NOT VALID, they are valid already).
ALTER TABLE operations VALIDATE CONSTRAINT operations_key_disposition_check;
ALTER TABLE operations VALIDATE CONSTRAINT operations_key_disposition_decommission_only;

-- Issue 12: fail-safe decommission and re-onboarding.
-- Each onboarding of a name is a generation: retained, named resources (trail, log groups) carry it from
-- 2 on, so a decommissioned name can come back. Incremented when a decommissioned name is re-provisioned.
ALTER TABLE providers ADD COLUMN generation integer NOT NULL DEFAULT 1 CHECK (generation >= 1);

-- What a decommission does with the provider's BYOK key: disable and retain it, or schedule its deletion
-- (crypto-shredding). Chosen by the request, shown in its approval and audit record; only decommissions
-- carry it (older ones, without, ran before the option existed).
-- NOT VALID: added without scanning operations under this migration's exclusive lock; new rows are checked
-- at once, the existing ones (all NULL here) by 011 in its own transaction, without blocking writes.
ALTER TABLE operations ADD COLUMN key_disposition text;
ALTER TABLE operations ADD CONSTRAINT operations_key_disposition_check
  CHECK (key_disposition IN ('retain','shred')) NOT VALID;
ALTER TABLE operations ADD CONSTRAINT operations_key_disposition_decommission_only
  CHECK (key_disposition IS NULL OR intent = 'decommission') NOT VALID;

-- The simulated cloud's memory of what destroys left in AWS (retainOnDelete), by unique name: a later
-- create of the same name fails there as it would in AWS.
CREATE TABLE simulated_retained (
  type        text NOT NULL,
  name        text NOT NULL,
  stack       text NOT NULL,
  urn         text NOT NULL,
  retained_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (type, name)
);

-- Drift checks of network hubs (issue 16): a hub stack (`network-hub.<region>`, DESIGN §7) gets drift checks
-- like a provider's stack, and its last result is kept on a row of its own.

-- The hub stacks that exist: a row once a hub update of the region has succeeded (the schedule checks these;
-- GET /v1/network-hubs lists them). `drift` has the provider's shape: {status, checkedAt, operationId,
-- resources[{urn, type, change, keys}], reason?}; NULL = never checked. Key names only, never values.
CREATE TABLE network_hubs (
  region      text PRIMARY KEY,
  stack       text NOT NULL UNIQUE CHECK (stack = 'network-hub.' || region),
  created_at  timestamptz NOT NULL DEFAULT now(),
  drift       jsonb
);
INSERT INTO network_hubs (region, stack, created_at)
  SELECT spec->>'region', provider, min(coalesce(finished_at, created_at))
    FROM operations WHERE intent = 'hub-update' AND status = 'succeeded'
   GROUP BY 1, 2;

-- A hub stack takes hub updates and drift checks; a provider stack anything but a hub update. Added NOT VALID
-- (no scan under an exclusive lock on operations) and validated by 022.
ALTER TABLE operations DROP CONSTRAINT operations_stack_kind_check;
ALTER TABLE operations ADD CONSTRAINT operations_stack_kind_check_v2
  CHECK (CASE WHEN provider LIKE 'network-hub.%' THEN intent IN ('hub-update', 'drift-check') ELSE intent <> 'hub-update' END) NOT VALID;

-- A provider stack's operation names a provider; a hub's drift check names a hub stack that exists.
CREATE OR REPLACE FUNCTION operations_provider_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.provider LIKE 'network-hub.%' THEN
    IF NEW.intent <> 'hub-update' AND NOT EXISTS (SELECT 1 FROM network_hubs WHERE stack = NEW.provider) THEN
      RAISE EXCEPTION 'operation % names unknown network hub %', NEW.id, NEW.provider USING ERRCODE = 'foreign_key_violation';
    END IF;
  ELSIF NOT EXISTS (SELECT 1 FROM providers WHERE name = NEW.provider) THEN
    RAISE EXCEPTION 'operation % names unknown provider %', NEW.id, NEW.provider USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END $$;

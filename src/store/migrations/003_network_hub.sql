-- Network hub: one stack per region owning the central firewall policy (DESIGN §7). Its operations go
-- through the same queue as the providers'; their `provider` column holds the stack name
-- (`network-hub.<region>`, which no provider name can equal: provider names have no dot).
ALTER TABLE operations DROP CONSTRAINT operations_provider_fkey;
ALTER TABLE operations DROP CONSTRAINT operations_intent_check;
ALTER TABLE operations ADD CONSTRAINT operations_intent_check
  CHECK (intent IN ('create','update','revoke','reinstate','decommission','preview','hub-update'));
-- Provider stacks keep their integrity rule, now as a check on the name's shape plus the trigger below.
ALTER TABLE operations ADD CONSTRAINT operations_stack_kind_check
  CHECK ((intent = 'hub-update') = (provider LIKE 'network-hub.%'));

CREATE FUNCTION operations_provider_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.intent <> 'hub-update' AND NOT EXISTS (SELECT 1 FROM providers WHERE name = NEW.provider) THEN
    RAISE EXCEPTION 'operation % names unknown provider %', NEW.id, NEW.provider USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER operations_provider_exists BEFORE INSERT ON operations
  FOR EACH ROW EXECUTE FUNCTION operations_provider_exists();

-- An operation that may only start once another has ended (a decommission waits for the hub update
-- that removes its rule group from the central policy: a referenced group cannot be deleted).
ALTER TABLE operations ADD COLUMN blocked_by uuid REFERENCES operations(id);

-- Coalescing: at most one queued hub update per hub stack; everyone who needs one joins it.
CREATE UNIQUE INDEX operations_one_queued_hub_update ON operations (provider)
  WHERE status = 'queued' AND intent = 'hub-update';

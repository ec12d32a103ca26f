-- CloudHSM key store, phase 2 through the API (issue 12): what the operator handed over after the
-- cluster's initialisation ceremony, and how far the service got with it. One row per provider, for its
-- current generation; deleted when the provider is decommissioned. The kmsuser password is sealed
-- (AES-256-GCM under a key kept outside the database, bound to the provider and generation) and kept only
-- until KMS has connected the store: KMS then rotates kmsuser's password, and the stack ignores changes
-- to it, so nothing needs it any more.
CREATE TABLE key_stores (
  provider                 text PRIMARY KEY REFERENCES providers (name) ON DELETE CASCADE,
  generation               integer NOT NULL CHECK (generation > 0),
  trust_anchor_certificate text NOT NULL,
  password_sealed          text,
  -- submitted: handed over, not run yet; created: a key-store run started (every run builds phase 2 from
  -- then on; custom_key_store_id once the store exists); connected: KMS connected it.
  state                    text NOT NULL CHECK (state IN ('submitted', 'created', 'connected')),
  custom_key_store_id      text,
  updated_at               timestamptz NOT NULL DEFAULT now(),
  CHECK (password_sealed IS NOT NULL OR state = 'connected')
);

ALTER TABLE operations DROP CONSTRAINT operations_intent_check;
ALTER TABLE operations ADD CONSTRAINT operations_intent_check
  CHECK (intent IN ('create','update','revoke','reinstate','decommission','preview','drift-check','hub-update','key-store')) NOT VALID;

-- Providers: one row per onboarded SaaS provider (= one Pulumi stack).
CREATE TABLE providers (
  name            text PRIMARY KEY,
  team            text NOT NULL,
  spec            jsonb NOT NULL,
  spec_hash       text NOT NULL,
  lifecycle       text NOT NULL CHECK (lifecycle IN
                    ('provisioning','active','revoked','decommissioning','decommissioned','failed')),
  outputs         jsonb NOT NULL DEFAULT '{}'::jsonb,
  engine          text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Operations: the unit of work on one stack, and the runner's queue.
CREATE TABLE operations (
  id                  uuid PRIMARY KEY,
  -- Global FIFO order; per-provider FIFO follows from it.
  queue_seq           bigserial NOT NULL UNIQUE,
  provider            text NOT NULL REFERENCES providers(name),
  intent              text NOT NULL CHECK (intent IN
                        ('create','update','revoke','reinstate','decommission','preview')),
  kind                text NOT NULL CHECK (kind IN ('up','preview','refresh','destroy')),
  access_state        text NOT NULL CHECK (access_state IN ('active','revoked')),
  status              text NOT NULL CHECK (status IN
                        ('queued','running','succeeded','failed','cancelled','interrupted')),
  engine              text NOT NULL,
  spec                jsonb NOT NULL,
  spec_hash           text NOT NULL,
  program_version     text NOT NULL,
  attempt             integer NOT NULL DEFAULT 0,
  lease_owner         text,
  lease_expires_at    timestamptz,
  cancel_requested_at timestamptz,
  last_seq            integer NOT NULL DEFAULT 0,
  progress_done       integer NOT NULL DEFAULT 0,
  progress_total      integer,
  result              jsonb,
  error               jsonb,
  created_at          timestamptz NOT NULL DEFAULT now(),
  started_at          timestamptz,
  finished_at         timestamptz
);
-- The database, not only the code, guarantees at most one running operation per provider.
CREATE UNIQUE INDEX operations_one_running_per_provider ON operations (provider) WHERE status = 'running';
CREATE INDEX operations_queued ON operations (queue_seq) WHERE status = 'queued';
CREATE INDEX operations_by_provider ON operations (provider, queue_seq);
CREATE INDEX operations_running_lease ON operations (lease_expires_at) WHERE status = 'running';

-- Operation events: persisted before they are sent; seq is gap-free per operation.
CREATE TABLE operation_events (
  operation_id  uuid NOT NULL REFERENCES operations(id),
  seq           integer NOT NULL CHECK (seq > 0),
  type          text NOT NULL,
  at            timestamptz NOT NULL DEFAULT now(),
  data          jsonb NOT NULL,
  PRIMARY KEY (operation_id, seq)
);

-- Idempotency keys: same key + same request → same operation; different request → 422.
CREATE TABLE idempotency_keys (
  key           text PRIMARY KEY,
  request_hash  text NOT NULL,
  operation_id  uuid NOT NULL REFERENCES operations(id),
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Simulated engine state: what a real backend's checkpoint would hold, one row per resource.
CREATE TABLE simulated_resources (
  stack        text NOT NULL,
  urn          text NOT NULL,
  type         text NOT NULL,
  name         text NOT NULL,
  parent       text,
  custom       boolean NOT NULL,
  inputs       jsonb NOT NULL,
  outputs      jsonb NOT NULL,
  dependencies jsonb NOT NULL DEFAULT '[]'::jsonb,
  position     integer NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stack, urn)
);

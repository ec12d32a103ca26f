-- Fleet rollouts (issue 15): a new program version reaches every stack that last ran an older one. A
-- rollout is a row plus ordinary operations (previews, then updates of the same spec), driven by a
-- background worker that holds the rollout's lease (the runner's pattern); its progress is its own event
-- stream and its own audit records.
CREATE TABLE rollouts (
  id                 uuid PRIMARY KEY,
  program_version    text NOT NULL,
  -- previewing → (awaiting_approval) → applying → succeeded; paused from either phase; halted past
  -- max_failures; cancelled (or rejected). halted, succeeded and cancelled are final: what is still behind
  -- is taken up by a new rollout.
  status             text NOT NULL CHECK (status IN
                       ('previewing','awaiting_approval','applying','paused','halted','succeeded','cancelled')),
  paused_phase       text CHECK (paused_phase IN ('previewing','applying')),
  canary             integer NOT NULL CHECK (canary >= 0),
  batch_size         integer NOT NULL CHECK (batch_size >= 1),
  max_parallel       integer NOT NULL CHECK (max_parallel >= 1),
  max_failures       integer NOT NULL CHECK (max_failures >= 0),
  -- The wave being applied (0 = the canary) and how many there are.
  wave               integer NOT NULL DEFAULT 0,
  waves              integer NOT NULL DEFAULT 0,
  total              integer NOT NULL CHECK (total >= 0),
  requested_by       text NOT NULL,
  requested_by_name  text NOT NULL,
  approval_rule      text CHECK (approval_rule IN ('restricted','all')),
  decided_by         text,
  decided_by_name    text,
  decided_at         timestamptz,
  reason             text,
  lease_owner        text,
  lease_expires_at   timestamptz,
  last_seq           integer NOT NULL DEFAULT 0,
  created_at         timestamptz NOT NULL DEFAULT now(),
  applying_at        timestamptz,
  -- Set with the final event, once nothing of the rollout is queued or running any more.
  finished_at        timestamptz,
  CONSTRAINT rollouts_paused_phase CHECK ((status = 'paused') = (paused_phase IS NOT NULL)),
  -- The database refuses self-approval too, not only the code.
  CONSTRAINT rollouts_not_self CHECK (decided_by IS NULL OR decided_by <> requested_by OR status = 'cancelled')
);
-- One open rollout at a time: two would race for the same stacks.
CREATE UNIQUE INDEX rollouts_one_open ON rollouts ((true)) WHERE status IN ('previewing','awaiting_approval','applying','paused');
CREATE INDEX rollouts_unfinished ON rollouts (created_at) WHERE finished_at IS NULL;

CREATE TABLE rollout_stacks (
  rollout_id            uuid NOT NULL REFERENCES rollouts (id),
  provider              text NOT NULL REFERENCES providers (name),
  position              integer NOT NULL,
  -- The program version the stack last ran (null: none recorded).
  from_version          text,
  access_state          text NOT NULL CHECK (access_state IN ('active','revoked')),
  -- Set when applying starts: 0 is the canary.
  wave                  integer,
  status                text NOT NULL CHECK (status IN
                          ('pending','previewing','previewed','applying','succeeded','failed','skipped','cancelled')),
  preview_operation_id  uuid REFERENCES operations (id),
  operation_id          uuid REFERENCES operations (id),
  changes               jsonb,
  error                 jsonb,
  PRIMARY KEY (rollout_id, provider)
);
CREATE INDEX rollout_stacks_by_position ON rollout_stacks (rollout_id, position);

-- The rollout's own stream: persisted before it is sent; seq gap-free per rollout.
CREATE TABLE rollout_events (
  rollout_id  uuid NOT NULL REFERENCES rollouts (id),
  seq         integer NOT NULL CHECK (seq > 0),
  type        text NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  data        jsonb NOT NULL,
  PRIMARY KEY (rollout_id, seq)
);

-- A rollout's operations say so, and yield to people's: the runner claims priority 0 (a person's request)
-- before priority 1 (a rollout's), each in queue order.
-- The constraints are added NOT VALID (no scan of operations under an exclusive lock) and validated by 016.
ALTER TABLE operations ADD COLUMN rollout_id uuid;
ALTER TABLE operations ADD COLUMN priority smallint NOT NULL DEFAULT 0;
ALTER TABLE operations ADD CONSTRAINT operations_rollout_fkey FOREIGN KEY (rollout_id) REFERENCES rollouts (id) NOT VALID;
ALTER TABLE operations ADD CONSTRAINT operations_priority_check CHECK (priority IN (0, 1)) NOT VALID;
CREATE INDEX operations_by_rollout ON operations (rollout_id) WHERE rollout_id IS NOT NULL;

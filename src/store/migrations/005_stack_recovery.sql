-- An operation that ended without its engine finishing (crash, kill, lease lost, forced cancel) leaves
-- its stack to be recovered before anything runs on it again (DESIGN §9, issue #4): the next operation
-- clears the stale lock, reports pending operations that may have orphaned resources, and reconciles.
CREATE TABLE stack_recovery (
  stack         text PRIMARY KEY,
  operation_id  uuid NOT NULL REFERENCES operations(id),
  reason        text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- The simulated backend's pending operations: a step that started and has not completed, as a Pulumi
-- checkpoint records `pending_operations`, so an interrupted simulated run can be reported the same way.
CREATE TABLE simulated_pending_operations (
  stack         text NOT NULL,
  urn           text NOT NULL,
  type          text NOT NULL,
  name          text NOT NULL,
  op            text NOT NULL,
  operation_id  uuid NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stack, urn)
);

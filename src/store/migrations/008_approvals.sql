-- Approvals (four eyes, issue #5): an operation that needs a second person waits in `awaiting_approval`.
-- It counts as active (ahead of later operations of its provider) but the runner never claims it.
ALTER TABLE operations DROP CONSTRAINT operations_status_check;
ALTER TABLE operations ADD CONSTRAINT operations_status_check CHECK (status IN
  ('awaiting_approval','queued','running','succeeded','failed','cancelled','interrupted'));

-- One request per operation, bound to the exact spec hash and program version the requester saw.
CREATE TABLE approvals (
  operation_id      uuid PRIMARY KEY REFERENCES operations(id),
  rule              text NOT NULL CHECK (rule IN ('decommission','restricted','revoke','all')),
  spec_hash         text NOT NULL,
  program_version   text NOT NULL,
  -- `<kind>:<id>` of the principal who asked; the approver must be someone else.
  requested_by      text NOT NULL,
  requested_by_name text NOT NULL,
  requested_at      timestamptz NOT NULL DEFAULT now(),
  expires_at        timestamptz NOT NULL,
  status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending','approved','rejected','expired','withdrawn')),
  decided_by        text,
  decided_by_name   text,
  decided_at        timestamptz,
  comment           text CHECK (char_length(comment) <= 1000),
  CONSTRAINT approvals_expire_after_request CHECK (expires_at > requested_at),
  CONSTRAINT approvals_decision_complete CHECK ((status IN ('pending','expired')) = (decided_by IS NULL)),
  -- The database refuses self-approval too, not only the code (a requester may withdraw its own request).
  CONSTRAINT approvals_not_self CHECK (status <> 'approved' OR decided_by <> requested_by)
);
CREATE INDEX approvals_pending_expiry ON approvals (expires_at) WHERE status = 'pending';

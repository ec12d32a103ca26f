-- Signed receipts (issue 17, src/audit/receipts/): one per finished operation, issued in the transaction that
-- appends its `operation.finish` audit record. The primary key makes issuing idempotent: a retried
-- transaction or a second replica finds the stored receipt instead of signing a second one.
CREATE TABLE receipts (
  operation_id  uuid PRIMARY KEY REFERENCES operations(id),
  provider      text NOT NULL,
  key_id        text NOT NULL,
  audit_seq     bigint NOT NULL CHECK (audit_seq > 0),
  issued_at     timestamptz NOT NULL,
  -- The signed receipt as JSON text, exactly as issued: served and packed without re-encoding.
  document      text NOT NULL
);
-- The evidence pack lists a provider's receipts in the order they were issued.
CREATE INDEX receipts_by_provider ON receipts (provider, issued_at, operation_id);

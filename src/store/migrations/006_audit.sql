-- Audit trail (issue #5, DESIGN §10): one hash-chained record per mutation, approval, key event and denied
-- request, written in the same transaction as the change it describes (src/audit/append.ts).
-- hash = SHA-256(prev_hash ‖ canonical JSON of the record's fields); see src/audit/chain.ts.
-- `action` and `resource_kind` are closed zod enums in src/audit/record.ts (they grow with the API, so no CHECK).
CREATE TABLE audit_log (
  seq             bigint PRIMARY KEY CHECK (seq > 0),
  -- statement_timestamp() of the appending statement, microseconds; hashed as 'YYYY-MM-DDTHH:MM:SS.ffffffZ'.
  at              timestamptz NOT NULL,
  action          text NOT NULL,
  outcome         text NOT NULL CHECK (outcome IN ('allowed','denied','failed')),
  principal_kind  text NOT NULL CHECK (principal_kind IN ('apikey','oidc','anonymous','system')),
  principal_id    text NOT NULL,
  principal_name  text,
  resource_kind   text NOT NULL,
  resource_id     text NOT NULL,
  request_id      text,
  source_ip       text,
  -- Values under the writer's sensitive paths are 'hmac-sha256:<hex>' (key outside the database).
  details         jsonb NOT NULL,
  sensitive       jsonb NOT NULL,
  -- No format CHECK on the hashes (here and below): appendAudit's statement computes them, and on PGlite a
  -- regex CHECK costs about a third of an append (bench/audit-verify.ts). verifyAudit judges them.
  prev_hash       text NOT NULL,
  hash            text NOT NULL
);
CREATE INDEX audit_log_by_principal ON audit_log (principal_id, seq);
CREATE INDEX audit_log_by_resource ON audit_log (resource_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- The chain head: one row, updated (so locked) by every appending transaction until it commits, so that
-- commit order = chain order and seq is gap-free across replicas. prev_hash is the last record's prev_hash:
-- the one UPDATE that appends a record needs the old hash after SET has replaced it.
CREATE TABLE audit_head (
  id         boolean PRIMARY KEY DEFAULT true CHECK (id),
  seq        bigint NOT NULL CHECK (seq >= 0),
  hash       text NOT NULL,
  prev_hash  text NOT NULL
);
INSERT INTO audit_head (id, seq, hash, prev_hash) VALUES (true, 0, repeat('0', 64), repeat('0', 64));

-- Ed25519 signatures of the head, made with a key kept outside the database (src/audit/signing.ts).
-- A signature beyond the last record, or over another hash, reveals a truncated or rewritten tail.
CREATE TABLE audit_signatures (
  seq        bigint NOT NULL CHECK (seq >= 0),
  key_id     text NOT NULL,
  hash       text NOT NULL,
  signed_at  timestamptz NOT NULL,
  signature  text NOT NULL,
  PRIMARY KEY (seq, key_id)
);

-- Append-only against mistakes in our own code. Not against an attacker who owns the tables (they can
-- disable the trigger): that is what the chain and the signatures are for.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit: % on % is not allowed (append-only)', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_signatures_append_only BEFORE UPDATE OR DELETE ON audit_signatures
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_signatures_no_truncate BEFORE TRUNCATE ON audit_signatures
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

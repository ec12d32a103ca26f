-- API keys for engineers and automation (issue #5, DESIGN §10). The key `sbk_<prefix>_<secret>` is shown
-- once at creation; only `prefix` (public, for lookup) and `secret_hash` (SHA-256 of the whole key) are kept.
-- Timestamps come from the service's clock, so expiry and created_at are judged by one clock.
CREATE TABLE api_keys (
  id            uuid PRIMARY KEY,
  prefix        text NOT NULL CONSTRAINT api_keys_prefix_key UNIQUE
                  CONSTRAINT api_keys_prefix_format CHECK (prefix ~ '^[0-9a-f]{12}$'),
  secret_hash   bytea NOT NULL CONSTRAINT api_keys_secret_hash_length CHECK (octet_length(secret_hash) = 32),
  name          text NOT NULL CONSTRAINT api_keys_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
  role          text NOT NULL CONSTRAINT api_keys_role CHECK (role IN ('viewer','operator','approver','admin','auditor')),
  teams         text[] NOT NULL DEFAULT '{}' CONSTRAINT api_keys_teams_no_nulls CHECK (array_position(teams, NULL) IS NULL),
  created_by    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz,
  revoked_by    text,
  -- Written at most once a minute per key, not on every request.
  last_used_at  timestamptz,
  CONSTRAINT api_keys_expires_after_creation CHECK (expires_at > created_at),
  CONSTRAINT api_keys_revocation_complete CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);

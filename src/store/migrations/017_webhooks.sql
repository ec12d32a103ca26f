-- Signed notifications (issue 16, DESIGN §13): teams subscribe endpoints to notice types; a notice is
-- written to the outbox (webhook_deliveries) in the transaction of the event that causes it, and a
-- delivery worker on every replica sends it (claimed FOR UPDATE SKIP LOCKED, under a lease), in order per
-- subscription, with back-off until it is delivered or too old (then dead, and redeliverable).
CREATE TABLE webhook_subscriptions (
  id           uuid PRIMARY KEY,
  -- NULL: every team's notices (admins only), and the notices of no team.
  team         text,
  url          text NOT NULL,
  event_types  text[] NOT NULL CHECK (cardinality(event_types) >= 1),
  description  text NOT NULL DEFAULT '',
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- The last sequence number given to one of its deliveries: bumped under the row lock, so a
  -- subscription's deliveries are numbered in the order their transactions commit.
  last_seq     bigint NOT NULL DEFAULT 0
);
CREATE INDEX webhook_subscriptions_team ON webhook_subscriptions (team);

-- Sealed (src/auth/credential-seal.ts, bound to the subscription and the secret id); shown once.
CREATE TABLE webhook_secrets (
  id               uuid PRIMARY KEY,
  subscription_id  uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
  sealed           text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  -- NULL: the current secret. Set by a rotation: it still signs (next to the new one) until then.
  expires_at       timestamptz
);
CREATE INDEX webhook_secrets_subscription ON webhook_secrets (subscription_id);

-- The outbox: one row per notice and matching subscription.
CREATE TABLE webhook_deliveries (
  id                uuid PRIMARY KEY,
  -- The Standard Webhooks `webhook-id` (`msg_…`): the same on every attempt and redelivery, so receivers dedupe.
  webhook_id        text NOT NULL UNIQUE,
  subscription_id   uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
  seq               bigint NOT NULL,
  type              text NOT NULL,
  -- The CloudEvent exactly as it is sent and signed (text, not jsonb: the bytes must not change).
  payload           text NOT NULL,
  status            text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts          integer NOT NULL DEFAULT 0,
  next_attempt_at   timestamptz NOT NULL DEFAULT now(),
  -- Retried until then (created_at + WEBHOOK_MAX_AGE_HOURS; a redelivery starts it again), then dead.
  give_up_at        timestamptz NOT NULL,
  lease_owner       text,
  lease_expires_at  timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  delivered_at      timestamptz,
  dead_at           timestamptz,
  last_error        text,
  UNIQUE (subscription_id, seq),
  CONSTRAINT webhook_deliveries_lease CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
);
-- The claim: the first pending delivery of each subscription, due, not leased.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (subscription_id, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
  delivery_id       uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  number            integer NOT NULL,
  at                timestamptz NOT NULL DEFAULT now(),
  status_code       integer,
  error             text,
  duration_ms       integer NOT NULL,
  -- At most 256 characters of the response body; nothing more of it is kept.
  response_excerpt  text CHECK (char_length(response_excerpt) <= 256),
  PRIMARY KEY (delivery_id, number)
);

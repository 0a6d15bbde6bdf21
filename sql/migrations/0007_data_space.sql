-- The Personal Data Space: closing accounts, exports and imports (GDPR Art. 17 and 20), and
-- partner webhooks that tell partners at once when consent ends.

-- A closed account is a tombstone: no personal data, kept so ledger history stays whole.
ALTER TABLE customers ADD COLUMN closed_at timestamptz;

-- Partner webhook endpoints. The secret signs deliveries (HMAC-SHA256); it is needed in clear
-- to sign, and shown to the partner once, at creation.
CREATE TABLE webhook_endpoints (
  id         text PRIMARY KEY DEFAULT new_id('whe'),
  partner_id text NOT NULL REFERENCES partners (id),
  url        text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
  events     text[] NOT NULL CHECK (cardinality(events) >= 1),
  secret     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);
CREATE INDEX webhook_endpoints_by_partner ON webhook_endpoints (partner_id, id)
  WHERE deleted_at IS NULL;

-- One event, as sent: `data` holds ids only (grant, offer, and the customer of the partner's
-- own grant), never a personal datum.
CREATE TABLE webhook_events (
  id         text PRIMARY KEY DEFAULT new_id('evt'),
  partner_id text NOT NULL REFERENCES partners (id),
  type       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  data       jsonb NOT NULL
);
CREATE INDEX webhook_events_by_partner ON webhook_events (partner_id, id);

-- One event to one endpoint; retried with exponential backoff until delivered or given up.
CREATE TABLE webhook_deliveries (
  id              text PRIMARY KEY DEFAULT new_id('whd'),
  event_id        text NOT NULL REFERENCES webhook_events (id),
  endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id),
  status          text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  last_status_code integer,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);

-- Every attempt, for the partner's delivery log.
CREATE TABLE webhook_attempts (
  delivery_id text NOT NULL REFERENCES webhook_deliveries (id),
  attempt     integer NOT NULL CHECK (attempt >= 1),
  at          timestamptz NOT NULL DEFAULT now(),
  status_code integer,
  error       text,
  duration_ms integer NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);

-- A customer's portable package (Art. 20). The manifest (content hashes of every part) and
-- its JWS are fixed when the export is made; the package itself streams from the database.
CREATE TABLE exports (
  id           text PRIMARY KEY DEFAULT new_id('exp'),
  customer_id  text NOT NULL REFERENCES customers (id),
  status       text NOT NULL CHECK (status IN ('ready', 'invalidated')),
  format       text NOT NULL,
  issuer       text NOT NULL,
  manifest     jsonb NOT NULL,
  signature    text NOT NULL,
  record_count bigint NOT NULL,
  consent_count integer NOT NULL,
  -- The lines before the records (customer, consents, earnings), fixed at export time; the
  -- records part is every record of the customer with id <= last_record_id, streamed.
  prefix_lines text NOT NULL,
  last_record_id text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  invalidated_at timestamptz
);
CREATE INDEX exports_by_customer ON exports (customer_id, id);

-- Packages imported from another operator; one import per (issuer, export).
CREATE TABLE imports (
  id            text PRIMARY KEY DEFAULT new_id('imp'),
  customer_id   text NOT NULL REFERENCES customers (id),
  issuer        text NOT NULL,
  export_id     text NOT NULL,
  manifest      jsonb NOT NULL,
  record_count  bigint NOT NULL,
  consent_count integer NOT NULL,
  imported_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (issuer, export_id)
);

-- Former grants from another operator, shown to the customer to re-confirm: never live grants.
CREATE TABLE imported_consents (
  id              text PRIMARY KEY DEFAULT new_id('icn'),
  customer_id     text NOT NULL REFERENCES customers (id),
  import_id       text NOT NULL REFERENCES imports (id),
  former_grant_id text NOT NULL,
  controller_id   text,
  controller_name text NOT NULL,
  categories      text[] NOT NULL,
  purposes        text[] NOT NULL,
  former_status   text NOT NULL,
  granted_at      timestamptz,
  expires_at      timestamptz,
  receipt         text NOT NULL,
  status          text NOT NULL DEFAULT 'to_reconfirm'
                  CHECK (status IN ('to_reconfirm', 'dismissed')),
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX imported_consents_by_customer ON imported_consents (customer_id, id);

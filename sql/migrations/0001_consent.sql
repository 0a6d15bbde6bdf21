-- Partners, customers, offers (versioned), grants, consent events and idempotency keys.

-- Prefixed, time-sortable ids (like Stripe's cus_...): prefix, 12 hex digits of
-- milliseconds since the epoch, 16 random hex digits.
CREATE FUNCTION new_id(prefix text) RETURNS text
LANGUAGE sql VOLATILE AS $$
  SELECT prefix || '_'
      || lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
      || substr(replace(gen_random_uuid()::text, '-', ''), 1, 16)
$$;

-- Attached to tables whose rows, once written, are history.
CREATE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on % is not allowed: rows are append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TABLE partners (
  id           text PRIMARY KEY DEFAULT new_id('ptn'),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  jurisdiction text NOT NULL CHECK (jurisdiction ~ '^[A-Z]{2}$'),
  status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
  id           text PRIMARY KEY DEFAULT new_id('cus'),
  external_ref text NOT NULL UNIQUE CHECK (length(external_ref) BETWEEN 1 AND 200),
  jurisdiction text NOT NULL CHECK (jurisdiction ~ '^[A-Z]{2}$'),
  birth_date   date,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE offers (
  id              text PRIMARY KEY DEFAULT new_id('ofr'),
  partner_id      text NOT NULL REFERENCES partners (id),
  status          text NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'active', 'paused', 'closed')),
  current_version integer NOT NULL DEFAULT 1 CHECK (current_version >= 1),
  max_grants      integer NOT NULL CHECK (max_grants >= 1),
  -- Counted atomically on acceptance so max_grants holds under concurrency.
  grant_count     integer NOT NULL DEFAULT 0 CHECK (grant_count BETWEEN 0 AND max_grants),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX offers_by_partner ON offers (partner_id, id);
CREATE INDEX offers_active ON offers (id) WHERE status = 'active';

-- The exact terms a customer accepts; a change makes a new row, never an edit.
CREATE TABLE offer_versions (
  offer_id              text NOT NULL REFERENCES offers (id),
  version               integer NOT NULL CHECK (version >= 1),
  title                 text NOT NULL,
  description           text NOT NULL,
  categories            text[] NOT NULL CHECK (cardinality(categories) >= 1),
  purposes              text[] NOT NULL CHECK (cardinality(purposes) >= 1),
  duration_days         integer NOT NULL CHECK (duration_days BETWEEN 1 AND 365),
  lookback_days         integer NOT NULL CHECK (lookback_days BETWEEN 0 AND 3650),
  compensation_kind     text NOT NULL CHECK (compensation_kind IN ('discount', 'cash')),
  compensation_amount   bigint NOT NULL CHECK (compensation_amount >= 0),
  compensation_currency text NOT NULL CHECK (compensation_currency ~ '^[A-Z]{3}$'),
  jurisdictions         text[] NOT NULL CHECK (cardinality(jurisdictions) >= 1),
  terms_hash            text NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (offer_id, version)
);
CREATE TRIGGER offer_versions_immutable BEFORE UPDATE OR DELETE ON offer_versions
  FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE grants (
  id            text PRIMARY KEY DEFAULT new_id('gnt'),
  customer_id   text NOT NULL REFERENCES customers (id),
  partner_id    text NOT NULL REFERENCES partners (id),
  offer_id      text NOT NULL,
  offer_version integer NOT NULL,
  categories    text[] NOT NULL CHECK (cardinality(categories) >= 1),
  purposes      text[] NOT NULL CHECK (cardinality(purposes) >= 1),
  status        text NOT NULL CHECK (status IN ('active', 'paused', 'revoked', 'expired')),
  granted_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL CHECK (expires_at > granted_at),
  updated_at    timestamptz NOT NULL,
  terms_hash    text NOT NULL,
  receipt       text NOT NULL,
  FOREIGN KEY (offer_id, offer_version) REFERENCES offer_versions (offer_id, version)
);
-- One live grant per customer and offer; the database, not Python, refuses a second.
CREATE UNIQUE INDEX grants_one_live ON grants (customer_id, offer_id)
  WHERE status IN ('active', 'paused');
CREATE INDEX grants_by_customer ON grants (customer_id, id);
CREATE INDEX grants_by_customer_partner ON grants (customer_id, partner_id);
CREATE INDEX grants_by_partner ON grants (partner_id, id);
CREATE INDEX grants_by_offer ON grants (offer_id, id);
CREATE INDEX grants_live_expiry ON grants (expires_at) WHERE status IN ('active', 'paused');

CREATE TABLE idempotency_keys (
  principal       text NOT NULL,
  key             text NOT NULL,
  request_hash    text NOT NULL,
  response_status integer,
  response_body   bytea,
  locked_until    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (principal, key)
);

-- A grant past its expiry reads `expired` at once, whether or not a job has flipped it yet.
CREATE FUNCTION grant_status(status text, expires_at timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN status IN ('active', 'paused') AND expires_at <= now()
              THEN 'expired' ELSE status END
$$;

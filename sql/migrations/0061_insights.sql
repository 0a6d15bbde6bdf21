-- Aggregated insights: H3 cells on records, immutable releases, and privacy budgets.

-- The H3 cell (as its 64-bit integer) of a record that says where the phone was, computed at
-- ingestion: aggregation reads this indexed column and never parses the JSON payload.
ALTER TABLE records ADD COLUMN h3_cell bigint;
-- The measure a record carries where its category has one (data_usage: megabytes up + down).
ALTER TABLE records ADD COLUMN measure bigint;
CREATE INDEX records_by_cell_time ON records (category, recorded_at, h3_cell)
  INCLUDE (customer_id) WHERE h3_cell IS NOT NULL;

CREATE TABLE insight_releases (
  id            text PRIMARY KEY DEFAULT new_id('ins'),
  partner_id    text NOT NULL REFERENCES partners (id),
  metric        text NOT NULL,
  request       jsonb NOT NULL,       -- what the partner asked, normalised
  parameters    jsonb NOT NULL,       -- what was used: k, epsilon, delta, mechanism, bounds
  rules_version text NOT NULL,
  cells         jsonb NOT NULL,       -- the released values, exactly as published
  values_hash   text NOT NULL,        -- sha256 of the canonical released values (audit entry)
  epsilon       double precision NOT NULL CHECK (epsilon > 0),
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX insight_releases_by_partner ON insight_releases (partner_id, id);
CREATE TRIGGER insight_releases_immutable BEFORE UPDATE OR DELETE ON insight_releases
  FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Who each release counted: the customer's own view of the releases they are in. Kept after
-- an erasure (it holds no data, only that the customer was counted, which they may ask).
CREATE TABLE insight_contributions (
  customer_id text NOT NULL REFERENCES customers (id),
  release_id  text NOT NULL REFERENCES insight_releases (id),
  partner_id  text NOT NULL,
  epsilon     double precision NOT NULL,
  counted_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (customer_id, release_id)
);

-- Epsilon spent per budget period: a partner's, and each customer's across all partners. The
-- conditional upsert that spends is the check, so concurrent releases never overspend.
CREATE TABLE partner_privacy_spend (
  partner_id   text NOT NULL REFERENCES partners (id),
  period_start date NOT NULL,
  spent        double precision NOT NULL CHECK (spent >= 0),
  PRIMARY KEY (partner_id, period_start)
);
CREATE TABLE customer_privacy_spend (
  customer_id  text NOT NULL REFERENCES customers (id),
  period_start date NOT NULL,
  spent        double precision NOT NULL CHECK (spent >= 0),
  PRIMARY KEY (customer_id, period_start)
);

-- Access decisions: every partner read and dry run, allowed or denied, with its reasons.

-- Written in the same transaction as the read it governs, so a response never precedes its
-- record. customer_id carries no foreign key: a request naming a customer that does not exist
-- is still a decision (no_grant) and is kept.
CREATE TABLE decisions (
  id            text PRIMARY KEY DEFAULT new_id('dec'),
  at            timestamptz NOT NULL,
  partner_id    text NOT NULL REFERENCES partners (id),
  customer_id   text NOT NULL,
  category      text NOT NULL,
  purpose       text NOT NULL,
  allowed       boolean NOT NULL,
  reasons       text[] NOT NULL CHECK (cardinality(reasons) >= 1),
  rule_ids      text[] NOT NULL DEFAULT '{}',
  grant_id      text,
  rules_version text NOT NULL,
  -- The earliest recorded_at released, when a grant covered the request.
  window_start  timestamptz,
  returned      integer NOT NULL DEFAULT 0 CHECK (returned >= 0)
);
CREATE INDEX decisions_by_customer ON decisions (customer_id, id);
CREATE INDEX decisions_by_partner ON decisions (partner_id, id);

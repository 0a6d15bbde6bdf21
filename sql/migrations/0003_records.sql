-- The Personal Data Space: one row per datum the operator holds about a customer.

CREATE TABLE records (
  id          text PRIMARY KEY DEFAULT new_id('rec'),
  customer_id text NOT NULL REFERENCES customers (id),
  category    text NOT NULL CHECK (category ~ '^[a-z_]{1,64}$'),
  recorded_at timestamptz NOT NULL,
  source      text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
  payload     json NOT NULL,    -- kept exactly as ingested (json, not jsonb: any JSON text)
  ingested_at timestamptz NOT NULL DEFAULT now()
);
-- The partner read and the customer's own view: one customer, one category, newest first.
CREATE INDEX records_by_customer_category ON records (customer_id, category, recorded_at DESC, id);

-- Compensation is earned once per customer and offer (DESIGN §3.10, §4), and a grant records
-- what the law left out of it (§3.9).

-- The (customer, offer) pairs already compensated: the first acceptance writes its row in its
-- own transaction, and the primary key refuses a second, whatever Python believed.
CREATE TABLE offer_compensations (
  customer_id text NOT NULL REFERENCES customers (id),
  offer_id    text NOT NULL REFERENCES offers (id),
  grant_id    text NOT NULL UNIQUE REFERENCES grants (id),  -- the acceptance that earned it
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT offer_compensations_once PRIMARY KEY (customer_id, offer_id)
);

-- Grants made before this migration: the first of each pair earned the compensation.
INSERT INTO offer_compensations (customer_id, offer_id, grant_id, created_at)
SELECT DISTINCT ON (customer_id, offer_id) customer_id, offer_id, id, granted_at
FROM grants
ORDER BY customer_id, offer_id, granted_at, id;

-- Whether this acceptance was compensated and, if not, why (`already_compensated`); every
-- earlier grant was paid. `exclusions`: the (category, purpose) pairs of the accepted terms
-- that a jurisdiction rule forbade, with the rules' ids and sentences; the engine denies them
-- by the grant itself.
ALTER TABLE grants
  ADD COLUMN compensated boolean NOT NULL DEFAULT true,
  ADD COLUMN not_compensated_reason text,
  ADD COLUMN exclusions jsonb NOT NULL DEFAULT '[]',
  ADD CONSTRAINT grants_compensation_reason
    CHECK (compensated = (not_compensated_reason IS NULL));

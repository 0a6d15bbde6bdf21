-- Aggregated insights: who may be counted, budgets, the counts themselves, releases.

-- name: partner_for_release
SELECT now() AS at, p.status, p.jurisdiction FROM partners p WHERE p.id = $1;

-- name: spend_partner_budget
-- The conditional upsert is the budget check: no row back means the period's budget is spent
-- (the row stays as it was). Concurrent releases queue on the row, so none overspends.
INSERT INTO partner_privacy_spend AS s (partner_id, period_start, spent)
VALUES ($1, $2, $3)
ON CONFLICT (partner_id, period_start) DO UPDATE SET spent = s.spent + EXCLUDED.spent
  WHERE s.spent + EXCLUDED.spent <= $4
RETURNING spent;

-- name: candidates
-- Live customers with an active grant to this partner for aggregated analytics over one of the
-- metric's categories, with every active grant of theirs to this partner: the engine decides.
SELECT c.id AS customer_id, c.jurisdiction, c.birth_date,
       g.id AS grant_id, g.status, g.categories, g.purposes, g.granted_at, g.expires_at,
       g.exclusions, v.lookback_days
FROM grants g
JOIN customers c ON c.id = g.customer_id AND c.closed_at IS NULL
JOIN offer_versions v ON v.offer_id = g.offer_id AND v.version = g.offer_version
WHERE g.partner_id = $1 AND g.status = 'active'
  AND 'aggregated_analytics' = ANY (g.purposes) AND g.categories && $2::text[]
ORDER BY c.id;

-- name: spend_customer_budgets
-- Each customer's epsilon across all partners: those whose budget allows it are counted (and
-- returned); the others are left out of this release, their rows unchanged.
INSERT INTO customer_privacy_spend AS s (customer_id, period_start, spent)
SELECT customer_id, $2, $3 FROM unnest($1::text[]) AS u (customer_id)
ON CONFLICT (customer_id, period_start) DO UPDATE SET spent = s.spent + EXCLUDED.spent
  WHERE s.spent + EXCLUDED.spent <= $4
RETURNING customer_id;

-- name: cell_counts
-- Distinct counted customers per area cell, time bucket and band, from the records of category
-- $13 that carry their cell; with a clip $12, each customer's measure per (cell, bucket) summed
-- and clipped there too (records without a measure left out), else a total of 0. $3/$4: child cell at the
-- stored resolution -> area cell; $5..$7: counted customers, their band and the start of their
-- grant's window. Contribution bounds, applied here before anything is counted: $8 cells per
-- bucket and $9 buckets per release per customer, kept in a pseudo-random order drawn from
-- the release's seed $10 (values XORed with a per-customer hash of it: a different order for
-- each customer and release, at the cost of one integer operation). Customers are numbered (n):
-- sorting integers, not collated text, is what keeps this near the cost of a plain GROUP BY;
-- both windows share one sort.
WITH area AS (
  SELECT * FROM unnest($3::bigint[], $4::bigint[]) AS a (cell, area_cell)
), counted AS (
  SELECT customer_id, n, band, since, hashtextextended(customer_id, $10::bigint) AS h
  FROM unnest($5::text[], $6::int[], $7::timestamptz[])
    WITH ORDINALITY AS c (customer_id, band, since, n)
), seen AS (
  SELECT c.n, c.band, c.h, a.area_cell,
         date_bin($11::interval, r.recorded_at, $1) AS bucket,
         coalesce(least(sum(r.measure), $12::bigint), 0)::bigint AS total
  FROM records r
  JOIN area a ON a.cell = r.h3_cell
  JOIN counted c ON c.customer_id = r.customer_id AND r.recorded_at >= c.since
  WHERE r.category = $13::text AND r.h3_cell IS NOT NULL
    AND ($12::bigint IS NULL OR r.measure IS NOT NULL)
    AND r.recorded_at >= $1 AND r.recorded_at < $2
  GROUP BY 1, 2, 3, 4, 5
), ranked AS (
  SELECT area_cell, bucket, band, total,
         row_number() OVER (PARTITION BY n, bh, bucket ORDER BY ch, area_cell)
           AS nth_cell,
         dense_rank() OVER (PARTITION BY n ORDER BY bh, bucket) AS nth_bucket
  FROM (
    SELECT *, (extract(epoch FROM bucket)::bigint # h) AS bh, (area_cell # h) AS ch
    FROM seen
  ) s
)
SELECT area_cell, bucket, band, count(*)::bigint AS people, sum(total)::bigint AS total
FROM ranked
WHERE nth_cell <= $8 AND nth_bucket <= $9
GROUP BY 1, 2, 3;

-- name: insert_release
INSERT INTO insight_releases (id, partner_id, metric, request, parameters, rules_version, cells,
                              values_hash, epsilon, created_at)
VALUES (new_id('ins'), $1, $2, $3::jsonb, $4::jsonb, $5, $6::jsonb, $7, $8, $9)
RETURNING id;

-- name: insert_contributions
INSERT INTO insight_contributions (customer_id, release_id, partner_id, epsilon, counted_at)
SELECT customer_id, $2, $3, $4, $5 FROM unnest($1::text[]) AS u (customer_id);

-- name: get_release
SELECT id, partner_id, metric, request::text AS request, parameters::text AS parameters,
       rules_version, cells::text AS cells, values_hash, epsilon, created_at
FROM insight_releases WHERE id = $1 AND partner_id = $2;

-- name: list_releases
SELECT id, metric, request::text AS request, values_hash, epsilon, created_at
FROM insight_releases
WHERE partner_id = $1 AND ($2::text IS NULL OR id < $2)
ORDER BY id DESC
LIMIT $3;

-- name: customer_contributions
SELECT i.partner_id, p.name AS partner_name, count(*)::int AS releases,
       sum(i.epsilon) AS epsilon
FROM insight_contributions i JOIN partners p ON p.id = i.partner_id
WHERE i.customer_id = $1
GROUP BY i.partner_id, p.name
ORDER BY i.partner_id;

-- name: customer_spend
SELECT spent FROM customer_privacy_spend WHERE customer_id = $1 AND period_start = $2;

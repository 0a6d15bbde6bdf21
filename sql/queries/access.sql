-- Queries of the data-access path: the decision context, the records released, the decisions.

-- name: partner_read
-- A partner's read in one round trip and one snapshot. First the decision's context, one row
-- per grant (those rows have a decision_id): the decision instant and id, the partner's
-- status, the customer (if any), the customer's pseudonym key, and this partner's grants on
-- this customer (index grants_by_customer_partner; a single row with NULL grant columns if
-- none). `snapshot` is this statement's own snapshot: which transactions' effects (a
-- revoke's) the decision was made on, recorded in its audit entry so the order is provable
-- (docs/audit.md). Then (rows with a record_id) the newest records of the category ($3) as
-- far back as this partner's grants in force on ($3, $4) could reach; none when no grant
-- covers. The engine decides on the context, and its own window (never wider than this one)
-- is applied to the records in Python: a denied read's records are dropped unseen. The cursor
-- $5 is the last record of the previous page (an unknown cursor gives an empty page); $6 is
-- the page size plus one, 0 for the decision alone.
WITH ctx AS (
  SELECT now() AS at, new_id('dec') AS decision_id, pg_current_snapshot()::text AS snapshot,
         p.status AS partner_status,
         c.id AS customer_id, c.jurisdiction, c.birth_date, k.secret,
         g.id AS grant_id, g.status, g.categories, g.purposes, g.granted_at, g.expires_at,
         g.exclusions, v.lookback_days
  FROM partners p
  LEFT JOIN customers c ON c.id = $2
  LEFT JOIN customer_audit_keys k ON k.customer_id = c.id
  LEFT JOIN grants g ON g.customer_id = c.id AND g.partner_id = p.id
  LEFT JOIN offer_versions v ON v.offer_id = g.offer_id AND v.version = g.offer_version
  WHERE p.id = $1
),
reach AS (
  -- 24-hour days, as the engine's timedelta(days=n): exact whatever the session's time zone
  SELECT min(at - lookback_days * interval '24 hours') AS since FROM ctx
  WHERE status = 'active' AND $3 = ANY (categories) AND $4 = ANY (purposes)
    AND granted_at <= at AND at < expires_at
),
cursor AS (
  SELECT recorded_at FROM records WHERE id = $5 AND customer_id = $2 AND category = $3
)
SELECT ctx.*, NULL::text AS record_id, NULL::timestamptz AS recorded_at, NULL::text AS source,
       NULL::json AS payload
FROM ctx
UNION ALL
(SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, r.id, r.recorded_at, r.source, r.payload
 FROM reach JOIN records r ON r.recorded_at >= reach.since
 WHERE r.customer_id = $2 AND r.category = $3
   AND ($5::text IS NULL
        OR r.recorded_at < (SELECT recorded_at FROM cursor)
        OR (r.recorded_at = (SELECT recorded_at FROM cursor) AND r.id > $5))
 ORDER BY r.recorded_at DESC, r.id
 LIMIT $6);

-- name: existing_customers
SELECT c.id, c.jurisdiction, k.secret
FROM customers c LEFT JOIN customer_audit_keys k ON k.customer_id = c.id
WHERE c.id = ANY($1::text[]);

-- name: baseline_records
-- The benchmark's one-SELECT baseline: the same index, no decision.
SELECT id, category, recorded_at, source, payload FROM records
WHERE customer_id = $1 AND category = $2
ORDER BY recorded_at DESC, id
LIMIT 20;

-- name: record_decisions
-- A batch of decisions in ONE statement (so one transaction, one flush): those that name a
-- customer as their audit entries ($14..$21), the others (an id that names no one) as decisions
-- rows ($1..$13); element i of each group's arrays belongs to its decision i. Per-row arrays
-- (reasons, rule_ids, jurisdictions) travel as JSON array text, since SQL arrays cannot be
-- ragged. Entries keep the batch order.
WITH d AS (
  INSERT INTO decisions (id, at, partner_id, customer_id, category, purpose, allowed, reasons,
    rule_ids, grant_id, rules_version, window_start, returned)
  SELECT t.id, t.at, t.partner_id, t.customer_id, t.category, t.purpose, t.allowed,
         ARRAY(SELECT jsonb_array_elements_text(t.reasons::jsonb)),
         ARRAY(SELECT jsonb_array_elements_text(t.rule_ids::jsonb)),
         t.grant_id, t.rules_version, t.window_start, t.returned
  FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
              $7::boolean[], $8::text[], $9::text[], $10::text[], $11::text[],
              $12::timestamptz[], $13::integer[])
       AS t(id, at, partner_id, customer_id, category, purpose, allowed, reasons, rule_ids,
            grant_id, rules_version, window_start, returned)
)
SELECT append_audit_entries($14::text[], $15::timestamptz[], $16::text[], $17::text[],
                            $18::text[], $19::text[], $20::text[], $21::text[]);


-- Sealing the audit log and reading it back (regulators, customers).

-- name: lock_state
SELECT tree_size, frontier, watermark::text AS watermark, last_txid::text AS last_txid,
       last_entry_id
FROM audit_sealer_state FOR UPDATE;

-- name: next_to_seal
-- In one statement, so the snapshot that gives xmin is the one that reads the entries: every
-- transaction with an xid below xmin has finished, and the committed ones are visible here.
WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
SELECT e.id, e.at, e.txid::text AS txid, e.entry, (SELECT xmin FROM horizon)::text AS xmin
FROM audit_entries e
WHERE e.txid >= $1::text::xid8
  AND e.txid < (SELECT xmin FROM horizon)
  AND (e.txid, e.id) > ($2::text::xid8, $3::bigint)
ORDER BY e.txid, e.id
LIMIT $4;

-- name: horizon
SELECT pg_snapshot_xmin(pg_current_snapshot())::text;

-- name: insert_leaves
-- Each leaf names its entry by id and month (the partitioned table's key).
INSERT INTO audit_leaves (leaf_index, entry_id, entry_at, leaf_hash)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::bytea[]);

-- name: insert_checkpoint
INSERT INTO audit_checkpoints (tree_size, root_hash, note) VALUES ($1, $2, $3);

-- name: update_state
UPDATE audit_sealer_state
SET tree_size = $1, frontier = $2, watermark = $3::text::xid8, last_txid = $4::text::xid8,
    last_entry_id = $5, updated_at = now();

-- name: latest_checkpoint
SELECT tree_size, root_hash, note, sealed_at FROM audit_checkpoints
ORDER BY tree_size DESC LIMIT 1;

-- name: unsealed_count
-- Entries committed but not yet in the tree (the regulator's view shows how far sealing lags).
SELECT count(*) FROM audit_entries e
WHERE NOT EXISTS (SELECT 1 FROM audit_leaves l WHERE l.entry_id = e.id);

-- name: leaves
-- Leaf hashes of [start, end) with whether each leaf's entry row still exists.
SELECT l.leaf_index, l.leaf_hash, e.id IS NULL AS entry_missing
FROM audit_leaves l LEFT JOIN audit_entries e ON e.id = l.entry_id AND e.at = l.entry_at
WHERE l.leaf_index >= $1 AND l.leaf_index < $2
ORDER BY l.leaf_index;

-- name: leaf_hashes_from
SELECT leaf_index, leaf_hash FROM audit_leaves WHERE leaf_index >= $1 ORDER BY leaf_index;

-- name: entries
-- Sealed entries of the caller's jurisdictions, ascending by leaf index; NULL filters match all.
SELECT l.leaf_index, e.id, e.kind, e.at, e.jurisdictions, e.partner_id, e.subject, e.category,
       e.outcome, e.entry
FROM audit_leaves l JOIN audit_entries e ON e.id = l.entry_id AND e.at = l.entry_at
WHERE e.jurisdictions && $1::text[]
  AND l.leaf_index > $2
  AND l.leaf_index < coalesce($3, (SELECT max(tree_size) FROM audit_checkpoints), 0)
  AND ($4::timestamptz IS NULL OR e.at >= $4)
  AND ($5::timestamptz IS NULL OR e.at < $5)
  AND ($6::text IS NULL OR e.kind = $6)
  AND ($7::text IS NULL OR e.partner_id = $7)
  AND ($8::text IS NULL OR e.category = $8)
  AND ($9::text IS NULL OR e.outcome = $9)
  AND ($10::text IS NULL OR e.subject = $10)
  -- A rule's decisions: parsed only when asked, and only for rows the other filters kept.
  AND ($12::text IS NULL OR (e.entry::jsonb -> 'rule_ids') ? $12)
ORDER BY l.leaf_index
LIMIT $11;

-- name: access_log
-- A customer's own history, newest first, sealed or not yet; optionally one partner's ($4)
-- and one outcome ($5).
SELECT e.id, e.kind, e.at, e.partner_id, e.category, e.outcome, e.entry
FROM audit_entries e
WHERE e.subject = $1
  AND (e.kind = 'access.decision' OR e.kind LIKE 'grant.%')
  AND ($2::bigint IS NULL OR e.id < $2)
  AND ($4::text IS NULL OR e.partner_id = $4)
  AND ($5::text IS NULL OR e.outcome = $5)
ORDER BY e.id DESC
LIMIT $3;

-- name: grant_metrics
-- Per UTC day in [$1, $2): new, revoked and expired grants, and those active at the day's end
-- (last event accepted/resumed and not yet past expiry), for entries of jurisdictions $3.
-- The range is clamped here too (MAX_METRIC_DAYS, finite bounds): whatever the caller let
-- through, the series has at most 366 days and never starts at -infinity.
WITH bounds AS (
  SELECT $1::timestamptz AS lo, least($2::timestamptz, $1::timestamptz + interval '366 days') AS hi
  WHERE isfinite($1::timestamptz)
), days AS (
  SELECT d AS day_start, d + interval '1 day' AS day_end
  FROM bounds b, generate_series(b.lo, b.hi - interval '1 day', interval '1 day') d
), events AS (
  SELECT e.id, e.kind, e.at, e.entry::jsonb ->> 'grant_id' AS grant_id,
         (e.entry::jsonb ->> 'expires_at')::timestamptz AS expires_at
  FROM audit_leaves l JOIN audit_entries e ON e.id = l.entry_id AND e.at = l.entry_at, bounds b
  WHERE e.kind LIKE 'grant.%' AND e.jurisdictions && $3::text[] AND e.at < b.hi
)
SELECT d.day_start,
  (SELECT count(*) FROM events v WHERE v.kind = 'grant.accepted'
     AND v.at >= d.day_start AND v.at < d.day_end) AS new,
  (SELECT count(*) FROM events v WHERE v.kind = 'grant.revoked'
     AND v.at >= d.day_start AND v.at < d.day_end) AS revoked,
  (SELECT count(*) FROM events v WHERE v.kind = 'grant.expired'
     AND v.at >= d.day_start AND v.at < d.day_end) AS expired,
  (SELECT count(*) FROM (
     SELECT DISTINCT ON (v.grant_id) v.kind, v.expires_at FROM events v
     WHERE v.at < d.day_end ORDER BY v.grant_id, v.at DESC, v.id DESC
   ) last WHERE last.kind IN ('grant.accepted', 'grant.resumed')
     AND last.expires_at > d.day_end) AS active
FROM days d ORDER BY d.day_start;

-- name: decision_metrics
-- Access decisions per UTC day and outcome (reason NULL, grouped = 1), and per reason within
-- those (a decision with several reasons counts once under each); clamped as grant_metrics.
SELECT day_start, outcome, reason, grouping(reason) AS is_total, count(DISTINCT id) AS n
FROM (
  SELECT e.id, date_trunc('day', e.at, 'UTC') AS day_start, e.outcome, r.reason
  FROM audit_leaves l JOIN audit_entries e ON e.id = l.entry_id AND e.at = l.entry_at
  LEFT JOIN LATERAL jsonb_array_elements_text(
    CASE WHEN jsonb_typeof(e.entry::jsonb -> 'reasons') = 'array'
         THEN e.entry::jsonb -> 'reasons' ELSE '[]'::jsonb END) AS r(reason) ON true
  WHERE e.kind = 'access.decision' AND e.jurisdictions && $3::text[] AND isfinite($1::timestamptz)
    AND e.at >= $1::timestamptz
    AND e.at < least($2::timestamptz, $1::timestamptz + interval '366 days')
) s
GROUP BY GROUPING SETS ((day_start, outcome), (day_start, outcome, reason))
ORDER BY 1, 2, 3;

-- name: activity_metrics
-- Erasures, exports, account closures and payouts per UTC day (each a sealed entry of its
-- kind; a payout is the ledger transaction of kind 'payout'); clamped as grant_metrics.
SELECT date_trunc('day', e.at, 'UTC') AS day_start,
       count(*) FILTER (WHERE e.kind = 'data.erased')::int AS erasures,
       count(*) FILTER (WHERE e.kind = 'data.exported')::int AS exports,
       count(*) FILTER (WHERE e.kind = 'account.closed')::int AS accounts_closed,
       count(*) FILTER (WHERE e.kind = 'ledger.transaction'
                          AND e.entry::jsonb ->> 'txn_kind' = 'payout')::int AS payouts
FROM audit_leaves l JOIN audit_entries e ON e.id = l.entry_id AND e.at = l.entry_at
WHERE e.kind IN ('data.erased', 'data.exported', 'account.closed', 'ledger.transaction')
  AND e.jurisdictions && $3::text[] AND isfinite($1::timestamptz)
  AND e.at >= $1::timestamptz
  AND e.at < least($2::timestamptz, $1::timestamptz + interval '366 days')
GROUP BY 1
ORDER BY 1;

-- name: insight_metrics
-- Aggregate releases per UTC day and jurisdiction (of the regulator's): how many, the epsilon
-- they spent, and the cells they suppressed; from sealed entries, clamped as grant_metrics.
SELECT date_trunc('day', e.at, 'UTC') AS day_start, j.jurisdiction, count(*)::int AS releases,
       sum((e.entry::jsonb ->> 'epsilon')::float8) AS epsilon,
       sum((e.entry::jsonb ->> 'suppressed_cells')::int)::int AS suppressed_cells,
       sum((e.entry::jsonb ->> 'cells')::int)::int AS cells
FROM audit_leaves l JOIN audit_entries e ON e.id = l.entry_id AND e.at = l.entry_at
CROSS JOIN LATERAL unnest(e.jurisdictions) AS j (jurisdiction)
WHERE e.kind = 'insight.released' AND j.jurisdiction = ANY ($3::text[])
  AND isfinite($1::timestamptz) AND e.at >= $1::timestamptz
  AND e.at < least($2::timestamptz, $1::timestamptz + interval '366 days')
GROUP BY 1, 2
ORDER BY 1, 2;

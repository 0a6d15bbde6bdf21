-- Queries of deletion obligations, partner suspension for overdue deletions, and the
-- notifications a customer is told. Times come from the caller's clock ($n::timestamptz).

-- name: released
-- What the partner received under customer $1's grant $2, for the categories $3: the records
-- released by its allowed reads, the earliest record released and the last read. A read's
-- decision is its audit entry (0084), found through the customer's pseudonym $4 (index
-- audit_entries_by_subject). An entry written before 0084 has no window_start; its decisions
-- row, written beside it then, still has it.
SELECT coalesce(sum(returned), 0)::bigint AS records,
       min(window_start) FILTER (WHERE returned > 0) AS data_from,
       max(at) FILTER (WHERE returned > 0) AS data_to
FROM (
  SELECT e.at, (x.entry ->> 'returned')::integer AS returned,
         coalesce((x.entry ->> 'window_start')::timestamptz,
                  (SELECT d.window_start FROM decisions d
                   WHERE d.customer_id = $1 AND d.id = x.entry ->> 'decision_id'))
           AS window_start
  FROM audit_entries e CROSS JOIN LATERAL (SELECT e.entry::jsonb AS entry) x
  WHERE e.subject = $4 AND e.kind = 'access.decision' AND e.outcome = 'allowed'
    AND e.category = ANY ($3::text[]) AND x.entry ->> 'grant_id' = $2
) reads;

-- name: insert_obligation
INSERT INTO deletion_obligations (grant_id, partner_id, customer_id, jurisdiction, cause,
  categories, records_released, data_from, data_to, state, opened_at, due_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING *;

-- name: partner_obligations
SELECT * FROM deletion_obligations
WHERE partner_id = $1 AND ($2::text IS NULL OR state = $2)
  AND ($3::text IS NULL OR id < $3)
ORDER BY id DESC
LIMIT $4;

-- name: partner_obligation
SELECT * FROM deletion_obligations WHERE id = $1 AND partner_id = $2;

-- name: lock_partner_obligation
SELECT * FROM deletion_obligations WHERE id = $1 AND partner_id = $2 FOR UPDATE;

-- name: confirm_obligation
UPDATE deletion_obligations
SET state = 'confirmed', confirmed_at = $2, method = $3, statement = $4, completed_at = $5,
    receipt = $6
WHERE id = $1 AND state = 'open'
RETURNING *;

-- name: grant_obligations
SELECT * FROM deletion_obligations WHERE grant_id = ANY ($1::text[]) ORDER BY id;

-- name: customer_obligation
SELECT * FROM deletion_obligations WHERE id = $1 AND customer_id = $2;

-- name: customer_obligations
SELECT * FROM deletion_obligations WHERE customer_id = $1 ORDER BY id DESC LIMIT $2;

-- name: due_soon
-- Open obligations whose reminder is due and not yet sent, marked sent in the same statement.
UPDATE deletion_obligations SET due_soon_sent_at = $1
WHERE id IN (SELECT id FROM deletion_obligations
             WHERE state = 'open' AND due_soon_sent_at IS NULL AND due_at > $1
               AND due_at - $2::interval <= $1
             ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: overdue
UPDATE deletion_obligations SET overdue_sent_at = $1
WHERE id IN (SELECT id FROM deletion_obligations
             WHERE state = 'open' AND overdue_sent_at IS NULL AND due_at <= $1
             ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: suspend_overdue_partners
-- Active partners with an obligation open past its deadline plus the grace period, unless an
-- operator lifted the suspension until later; with the jurisdictions of those obligations.
UPDATE partners p SET status = 'suspended', suspended_reason = 'deletion_overdue',
                      suspended_at = $1
FROM (SELECT partner_id, array_agg(DISTINCT jurisdiction) AS jurisdictions,
             count(*) AS overdue
      FROM deletion_obligations
      WHERE state = 'open' AND due_at + $2::interval <= $1
      GROUP BY partner_id) o
WHERE p.id = o.partner_id AND p.status = 'active'
  AND (p.suspension_lifted_until IS NULL OR p.suspension_lifted_until <= $1)
RETURNING p.id, o.jurisdictions, o.overdue;

-- name: reinstate_if_clear
-- A partner suspended for overdue deletions is active again once none is overdue past grace.
UPDATE partners p SET status = 'active', suspended_reason = NULL, suspended_at = NULL
WHERE p.id = $1 AND p.status = 'suspended' AND p.suspended_reason = 'deletion_overdue'
  AND NOT EXISTS (SELECT 1 FROM deletion_obligations d
                  WHERE d.partner_id = p.id AND d.state = 'open'
                    AND d.due_at + $3::interval <= $2)
RETURNING p.id;

-- name: lift_suspension
UPDATE partners SET status = 'active', suspended_reason = NULL, suspended_at = NULL,
                    suspension_lifted_until = $2
WHERE id = $1
RETURNING id;

-- name: partner_deletion_status
SELECT p.id, p.status, p.suspended_reason, p.suspended_at, p.suspension_lifted_until,
       count(d.id) FILTER (WHERE d.state = 'open') AS open,
       count(d.id) FILTER (WHERE d.state = 'open' AND d.due_at <= $2) AS overdue
FROM partners p LEFT JOIN deletion_obligations d ON d.partner_id = p.id
WHERE p.id = $1
GROUP BY p.id;

-- name: metrics
-- Per partner, over obligations opened in the regulator's jurisdictions (not the auto-closed
-- ones, which owed nothing): opened, confirmed by the deadline, confirmed after it, open past
-- it, and the median time from opening to confirmation.
SELECT d.partner_id, p.name AS partner_name,
       count(*) AS opened,
       count(*) FILTER (WHERE d.state = 'confirmed' AND d.confirmed_at <= d.due_at)
         AS confirmed_in_time,
       count(*) FILTER (WHERE d.state = 'confirmed' AND d.confirmed_at > d.due_at)
         AS confirmed_late,
       count(*) FILTER (WHERE d.state = 'open' AND d.due_at <= $2) AS open_overdue,
       percentile_cont(0.5) WITHIN GROUP (
         ORDER BY extract(epoch FROM d.confirmed_at - d.opened_at))
         FILTER (WHERE d.state = 'confirmed') AS median_seconds_to_confirm
FROM deletion_obligations d JOIN partners p ON p.id = d.partner_id
WHERE d.jurisdiction = ANY ($1::text[]) AND d.state <> 'not_required'
GROUP BY d.partner_id, p.name
ORDER BY d.partner_id;

-- name: forget_customer_notifications
DELETE FROM notifications WHERE customer_id = $1;

-- name: insert_notifications
-- A batch; a dedupe key already used by the customer makes its row a no-op, and a closed
-- account is told nothing (no one is left to read it).
INSERT INTO notifications (customer_id, kind, params, dedupe_key, created_at)
SELECT n.* FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::timestamptz[])
       AS n(customer_id, kind, params, dedupe_key, created_at)
JOIN customers c ON c.id = n.customer_id AND c.closed_at IS NULL
ON CONFLICT (customer_id, dedupe_key) DO NOTHING
RETURNING id, customer_id, kind, params::text, created_at;

-- name: list_notifications
-- Newest first; $4 'read' or 'unread' keeps only those.
SELECT id, customer_id, kind, params::text, created_at, read_at FROM notifications
WHERE customer_id = $1 AND ($2::text IS NULL OR id < $2)
  AND ($4::text IS NULL OR (read_at IS NULL) = ($4 = 'unread'))
ORDER BY id DESC
LIMIT $3;

-- name: unread_notifications
SELECT count(*) FROM notifications WHERE customer_id = $1 AND read_at IS NULL;

-- name: mark_notifications_read
-- The customer's notification $2 and every earlier one still unread are read at $3; NULL
-- when $2 is not one of the customer's. `unread` is what is left (the count sees the rows as
-- before this statement, so the ones it marked are taken off).
WITH upto AS (
  SELECT id FROM notifications WHERE customer_id = $1 AND id = $2
), marked AS (
  UPDATE notifications n SET read_at = $3
  FROM upto WHERE n.customer_id = $1 AND n.id <= upto.id AND n.read_at IS NULL
  RETURNING 1
)
SELECT (SELECT count(*) FROM marked) AS marked,
       (SELECT count(*) FROM notifications WHERE customer_id = $1 AND read_at IS NULL)
         - (SELECT count(*) FROM marked) AS unread
FROM upto;

-- name: customer_language
SELECT jurisdiction FROM customers WHERE id = $1;

-- name: grants_expiring
-- Live grants ending within $2 of now ($1), with what their notification names.
SELECT g.id, g.customer_id, c.jurisdiction, p.name AS partner_name, g.purposes, g.expires_at,
       g.granted_at
FROM grants g JOIN customers c ON c.id = g.customer_id JOIN partners p ON p.id = g.partner_id
WHERE g.status IN ('active', 'paused') AND c.closed_at IS NULL
  AND g.expires_at > $1 AND g.expires_at <= $1 + $2::interval
  AND NOT EXISTS (SELECT 1 FROM notifications n
                  WHERE n.customer_id = g.customer_id AND n.dedupe_key = 'expiring:' || g.id)
ORDER BY g.expires_at
LIMIT $3;

-- name: grants_to_remind
-- Live grants at least one reminder period old whose latest reminder is not yet given.
SELECT g.id, g.customer_id, c.jurisdiction, p.name AS partner_name, g.purposes, g.expires_at,
       g.granted_at,
       floor(extract(epoch FROM $1 - g.granted_at) / extract(epoch FROM $2::interval))::int
         AS period
FROM grants g JOIN customers c ON c.id = g.customer_id JOIN partners p ON p.id = g.partner_id
WHERE g.status IN ('active', 'paused') AND c.closed_at IS NULL
  AND g.expires_at > $1 AND g.granted_at + $2::interval <= $1
  AND NOT EXISTS (SELECT 1 FROM notifications n
                  WHERE n.customer_id = g.customer_id
                    AND n.dedupe_key = 'reminder:' || g.id || ':' ||
                        floor(extract(epoch FROM $1 - g.granted_at)
                              / extract(epoch FROM $2::interval))::int)
ORDER BY g.granted_at
LIMIT $3;

-- name: live_grants_of_offer
-- The customers to tell that an offer they accepted changed (their grants keep their terms).
SELECT g.id, g.customer_id, c.jurisdiction, p.name AS partner_name, g.offer_version
FROM grants g JOIN customers c ON c.id = g.customer_id JOIN partners p ON p.id = g.partner_id
WHERE g.offer_id = $1 AND grant_status(g.status, g.expires_at) IN ('active', 'paused')
  AND c.closed_at IS NULL;

-- name: grant_context
-- What a notification about one grant names.
SELECT p.name AS partner_name, o.title
FROM grants g JOIN partners p ON p.id = g.partner_id
JOIN offer_versions o ON o.offer_id = g.offer_id AND o.version = g.offer_version
WHERE g.id = $1;

-- name: narrow_grant
-- An erasure of one category removes it from a live grant that covers others too; pairs the
-- law excluded for that category go with it.
UPDATE grants
SET categories = array_remove(categories, $2), updated_at = now(),
    exclusions = coalesce((SELECT jsonb_agg(e) FROM jsonb_array_elements(exclusions) e
                           WHERE e->>'category' <> $2), '[]'::jsonb)
WHERE customer_id = $1 AND status IN ('active', 'paused') AND expires_at > now()
  AND $2 = ANY (categories) AND cardinality(categories) > 1
RETURNING id, customer_id, partner_id, offer_id, offer_version, categories, purposes,
          grant_status(status, expires_at) AS status, granted_at, expires_at, updated_at,
          terms_hash, receipt, compensated, not_compensated_reason, exclusions;

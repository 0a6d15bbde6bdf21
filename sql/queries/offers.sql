-- Queries of the offers repository. Each block runs in psql as it is (with PREPARE).

-- name: insert_partner
INSERT INTO partners (name, jurisdiction, profile) VALUES ($1, $2, $3::jsonb)
RETURNING id, name, jurisdiction, status, created_at, profile::text;

-- name: get_partner
SELECT id, name, jurisdiction, status, created_at, profile::text FROM partners WHERE id = $1;

-- name: insert_customer
-- The reference is claimed first (unique over all customers, customer_refs' primary key); a
-- reference already claimed, by a committed or a concurrent onboarding, creates nothing.
WITH claimed AS (
  INSERT INTO customer_refs (external_ref, customer_id) VALUES ($1, new_id('cus'))
  ON CONFLICT (external_ref) DO NOTHING
  RETURNING customer_id
)
INSERT INTO customers (id, external_ref, jurisdiction, birth_date)
SELECT customer_id, $1, $2, $3 FROM claimed
RETURNING id, external_ref, jurisdiction, birth_date, created_at;

-- name: get_customer
SELECT id, external_ref, jurisdiction, birth_date, created_at FROM customers WHERE id = $1;

-- name: get_open_customer
SELECT id, external_ref, jurisdiction, birth_date, created_at FROM customers
WHERE id = $1 AND closed_at IS NULL;

-- name: lock_open_customer
-- Erasure and account closure: acceptances (claim_slot_and_grant, share_lock_customer: FOR
-- SHARE) wait for them.
SELECT id, external_ref, jurisdiction, birth_date, created_at FROM customers
WHERE id = $1 AND closed_at IS NULL
FOR UPDATE;

-- name: tombstone_customer
-- Kept for the ledger's history, with no personal data left on it; its reference is free for
-- a new onboarding.
WITH freed AS (
  DELETE FROM customer_refs r USING customers c
  WHERE c.id = $1 AND r.external_ref = c.external_ref AND r.customer_id = c.id
)
UPDATE customers
SET external_ref = 'closed_' || replace(gen_random_uuid()::text, '-', ''), birth_date = NULL,
    closed_at = now()
WHERE id = $1
RETURNING closed_at;

-- name: get_customer_by_ref
SELECT c.id, c.external_ref, c.jurisdiction, c.birth_date, c.created_at
FROM customer_refs r JOIN customers c ON c.id = r.customer_id
WHERE r.external_ref = $1;

-- name: insert_offer
INSERT INTO offers (partner_id, max_grants) VALUES ($1, $2)
RETURNING id;

-- name: insert_offer_version
INSERT INTO offer_versions (offer_id, version, title, description, categories, purposes,
  duration_days, lookback_days, compensation_kind, compensation_amount, compensation_currency,
  jurisdictions, terms_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13);

-- name: get_offer
SELECT o.id, o.partner_id, o.status, o.current_version AS version, o.max_grants, o.grant_count,
       o.created_at, o.updated_at, v.title, v.description, v.categories, v.purposes,
       v.duration_days, v.lookback_days, v.compensation_kind, v.compensation_amount,
       v.compensation_currency, v.jurisdictions, v.terms_hash
FROM offers o JOIN offer_versions v ON v.offer_id = o.id AND v.version = o.current_version
WHERE o.id = $1 AND o.partner_id = $2;

-- name: lock_offer
SELECT status, current_version, max_grants, grant_count FROM offers
WHERE id = $1 AND partner_id = $2
FOR UPDATE;

-- name: list_partner_offers
SELECT o.id, o.partner_id, o.status, o.current_version AS version, o.max_grants, o.grant_count,
       o.created_at, o.updated_at, v.title, v.description, v.categories, v.purposes,
       v.duration_days, v.lookback_days, v.compensation_kind, v.compensation_amount,
       v.compensation_currency, v.jurisdictions, v.terms_hash
FROM offers o JOIN offer_versions v ON v.offer_id = o.id AND v.version = o.current_version
WHERE o.partner_id = $1
  AND ($2::text IS NULL OR o.status = $2)
  AND ($3::text IS NULL OR o.id < $3)
ORDER BY o.id DESC
LIMIT $4;

-- name: update_offer_head
UPDATE offers SET current_version = $3, max_grants = $4, updated_at = now()
WHERE id = $1 AND partner_id = $2;

-- name: set_offer_status
UPDATE offers SET status = $3, updated_at = now()
WHERE id = $1 AND partner_id = $2;

-- name: list_customer_offers
-- With what the customer's eligibility needs besides the law: whether they hold a live grant,
-- whether they were compensated for the offer already (then nothing is owed and no slot is
-- taken), and the partner's escrow in the compensation's currency (0 when never funded).
SELECT o.id, o.partner_id, p.name AS partner_name, o.current_version AS version,
       o.max_grants, o.grant_count, v.title, v.description, v.categories, v.purposes,
       v.duration_days, v.lookback_days, v.compensation_kind, v.compensation_amount,
       v.compensation_currency, v.jurisdictions, v.terms_hash,
       EXISTS (SELECT 1 FROM grants g
               WHERE g.customer_id = $1 AND g.offer_id = o.id
                 AND grant_status(g.status, g.expires_at) IN ('active', 'paused'))
         AS already_granted,
       EXISTS (SELECT 1 FROM offer_compensations oc
               WHERE oc.customer_id = $1 AND oc.offer_id = o.id) AS already_compensated,
       coalesce((SELECT a.balance FROM ledger_accounts a
                 WHERE a.kind = 'partner_escrow' AND a.owner_id = o.partner_id
                   AND a.currency = v.compensation_currency), 0) AS escrow_balance
FROM offers o
JOIN offer_versions v ON v.offer_id = o.id AND v.version = o.current_version
JOIN partners p ON p.id = o.partner_id
WHERE o.status = 'active' AND p.status = 'active'
  AND ($2::text IS NULL OR o.id < $2)
  AND ($4::text IS NULL OR o.id = $4)  -- one offer, as the customer sees it
ORDER BY o.id DESC
LIMIT $3;

-- name: expire_stale_grants
UPDATE grants SET status = 'expired', updated_at = expires_at
WHERE customer_id = $1 AND offer_id = $2 AND status IN ('active', 'paused')
  AND expires_at <= now()
RETURNING id, customer_id, partner_id, offer_id, offer_version, categories, purposes,
          status, granted_at, expires_at, updated_at, terms_hash, receipt, compensated,
          not_compensated_reason, exclusions;

-- name: get_customer_grant
SELECT id, customer_id, partner_id, offer_id, offer_version, categories, purposes,
       grant_status(status, expires_at) AS status, granted_at, expires_at, updated_at,
       terms_hash, receipt, compensated, not_compensated_reason, exclusions
FROM grants WHERE id = $1 AND customer_id = $2;

-- name: list_customer_grants
SELECT id, customer_id, partner_id, offer_id, offer_version, categories, purposes,
       grant_status(status, expires_at) AS status, granted_at, expires_at, updated_at,
       terms_hash, receipt, compensated, not_compensated_reason, exclusions
FROM grants
WHERE customer_id = $1
  AND ($2::text IS NULL OR grant_status(status, expires_at) = $2)
  AND ($3::text IS NULL OR id < $3)
ORDER BY id DESC
LIMIT $4;

-- name: customer_partners
-- The partners a customer has held a grant to, ever, by name (at most $2).
SELECT p.id, p.name
FROM partners p
WHERE p.id IN (SELECT g.partner_id FROM grants g WHERE g.customer_id = $1)
ORDER BY p.name, p.id
LIMIT $2;

-- name: get_partner_grant
SELECT id, customer_id, partner_id, offer_id, offer_version, categories, purposes,
       grant_status(status, expires_at) AS status, granted_at, expires_at, updated_at,
       terms_hash, receipt, compensated, not_compensated_reason, exclusions
FROM grants WHERE id = $1 AND partner_id = $2;

-- name: list_partner_grants
SELECT id, customer_id, partner_id, offer_id, offer_version, categories, purposes,
       grant_status(status, expires_at) AS status, granted_at, expires_at, updated_at,
       terms_hash, receipt, compensated, not_compensated_reason, exclusions
FROM grants
WHERE partner_id = $1
  AND ($2::text IS NULL OR offer_id = $2)
  AND ($3::text IS NULL OR grant_status(status, expires_at) = $3)
  AND ($4::text IS NULL OR id < $4)
ORDER BY id DESC
LIMIT $5;

-- name: transition_grant
-- Pause and resume: moves a live grant of this customer from one of $3's statuses to $4;
-- nothing if it expired. (A revoke is revoke_grants.)
UPDATE grants SET status = $4, updated_at = now()
WHERE id = $1 AND customer_id = $2 AND status = ANY($3::text[]) AND expires_at > now()
RETURNING id, customer_id, partner_id, offer_id, offer_version, categories, purposes,
          grant_status(status, expires_at) AS status, granted_at, expires_at, updated_at,
          terms_hash, receipt, compensated, not_compensated_reason, exclusions;

-- name: revoke_grants
-- The one statement that revokes, whatever the cause: the customer's grant $2, or (with $2
-- NULL) every live grant covering a category of $3 (erasure, account closure). Erasing one
-- category narrows the grants covering others too first (`narrow_grant`, obligations.sql), so
-- what is left for this statement covers only erased data.
UPDATE grants SET status = 'revoked', updated_at = now()
WHERE customer_id = $1 AND status IN ('active', 'paused') AND expires_at > now()
  AND ($2::text IS NULL OR id = $2)
  AND ($3::text[] IS NULL OR categories && $3::text[])
RETURNING id, customer_id, partner_id, offer_id, offer_version, categories, purposes,
          grant_status(status, expires_at) AS status, granted_at, expires_at, updated_at,
          terms_hash, receipt, compensated, not_compensated_reason, exclusions;

-- name: expire_due_grants
-- The expiry job: flips grants past their end by $2 (the service's clock) to `expired`, a
-- batch at a time.
UPDATE grants g SET status = 'expired', updated_at = g.expires_at
FROM customers c
WHERE c.id = g.customer_id
  AND g.id IN (SELECT id FROM grants
               WHERE status IN ('active', 'paused') AND expires_at <= $2
               ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING g.id, g.customer_id, g.partner_id, g.offer_id, g.offer_version, g.categories,
          g.purposes, g.status, g.granted_at, g.expires_at, g.updated_at, g.terms_hash,
          g.receipt, g.compensated, g.not_compensated_reason, g.exclusions,
          c.jurisdiction;

-- name: share_lock_customer
-- An acceptance that runs as one transaction takes the customer first, under the row lock
-- erasure and account closure take FOR UPDATE (FOR SHARE: an acceptance and an erasure never
-- interleave; a closed account cannot consent), so its locks come in the order customer,
-- offer, ledger accounts.
SELECT 1 FROM customers WHERE id = $1 AND closed_at IS NULL FOR SHARE;

-- name: start_acceptance
-- What an acceptance reads, in one statement and without a lock (always one row; null columns
-- for what is not there): the open customer with their audit pseudonym key; the offer's
-- current version and its partner (claim_slot_and_grant takes the offer row next); whether a
-- live grant past its expiry must be flipped first; whether the partner has an endpoint for
-- grant.created; whether this customer was compensated for this offer already
-- (claim_slot_and_grant's insert into offer_compensations, under its primary key, is what
-- holds); a fresh grant id and the time. No row lock: a locking read would make this read a
-- writing transaction with a commit to flush of its own; claim_slot_and_grant locks the
-- customer and checks it is still as read (or share_lock_customer came first).
WITH customer AS (
  SELECT c.id, c.external_ref, c.jurisdiction, c.birth_date, c.created_at, k.secret
  FROM customers c LEFT JOIN customer_audit_keys k ON k.customer_id = c.id
  WHERE c.id = $1 AND c.closed_at IS NULL
), offer AS (
  SELECT o.id, o.partner_id, o.status, o.current_version AS version, v.title, v.description,
         v.categories, v.purposes, v.duration_days, v.lookback_days, v.compensation_kind,
         v.compensation_amount, v.compensation_currency, v.jurisdictions, v.terms_hash,
         p.status AS partner_status, p.name AS partner_name,
         p.jurisdiction AS partner_jurisdiction, p.created_at AS partner_created_at,
         p.profile::text AS partner_profile
  FROM offers o
  JOIN offer_versions v ON v.offer_id = o.id AND v.version = o.current_version
  JOIN partners p ON p.id = o.partner_id
  WHERE o.id = $2
)
SELECT c.id AS customer_id, c.external_ref, c.jurisdiction AS customer_jurisdiction,
       c.birth_date, c.created_at AS customer_created_at, c.secret AS audit_secret, o.*,
       EXISTS (SELECT 1 FROM grants g
               WHERE g.customer_id = $1 AND g.offer_id = $2
                 AND g.status IN ('active', 'paused') AND g.expires_at <= now()) AS has_stale,
       EXISTS (SELECT 1 FROM webhook_endpoints w
               WHERE w.partner_id = o.partner_id AND w.deleted_at IS NULL
                 AND 'grant.created' = ANY (w.events)) AS wants_event,
       EXISTS (SELECT 1 FROM offer_compensations oc
               WHERE oc.customer_id = $1 AND oc.offer_id = $2) AS compensated_before,
       new_id('gnt') AS grant_id, now() AS now
FROM (SELECT) AS one
LEFT JOIN customer c ON true
LEFT JOIN offer o ON true;

-- name: claim_slot_and_grant
-- The acceptance's writes in ONE statement (with no transaction block around it, it is its
-- own transaction: one round trip after the read). The customer is locked FOR SHARE (the
-- lock erasure and account closure take FOR UPDATE) and must still be open with the
-- jurisdiction ($23) and birth date ($24) the eligibility was decided on, else nothing is
-- written (customer_unchanged false: the caller decides again under the lock). A first
-- acceptance ($20 true) then takes one of the offer's max_grants slots (the row lock
-- serialises concurrent accepts) and records the (customer, offer) pair as compensated (its
-- primary key refuses a second: a stale read fails here instead of paying twice); a returning
-- customer ($20 false) takes no slot, so grant_count counts customers. Only with the offer
-- row updated is the grant inserted, with its audit entry, and then its compensation posted
-- through the ledger's one writer, ledger_post ($25..$41, null when nothing is paid; an
-- escrow that cannot pay raises ledger_escrow_not_overdrawn and nothing is kept). Locks in
-- the order customer, offer, ledger accounts. No grant: the offer is full (or changed since
-- it was read). A second live grant fails on grants_one_live.
WITH customer AS (
  SELECT c.id FROM customers c
  WHERE c.id = $2 AND c.closed_at IS NULL AND c.jurisdiction = $23
    AND c.birth_date IS NOT DISTINCT FROM $24::date
  FOR SHARE
), slot AS (
  UPDATE offers SET grant_count = grant_count + $20::boolean::integer
  WHERE id = $4 AND status = 'active' AND current_version = $5
    AND (NOT $20 OR grant_count < max_grants)
    AND EXISTS (SELECT 1 FROM customer)
  RETURNING id
), granted AS (
  INSERT INTO grants (id, customer_id, partner_id, offer_id, offer_version, categories,
    purposes, status, granted_at, expires_at, updated_at, terms_hash, receipt, compensated,
    not_compensated_reason, exclusions)
  SELECT $1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, $8, $10, $11, $20, $21, $22::jsonb
  FROM slot
  RETURNING id, customer_id, partner_id, offer_id, offer_version, categories, purposes,
            grant_status(status, expires_at) AS status, granted_at, expires_at, updated_at,
            terms_hash, receipt, compensated, not_compensated_reason, exclusions
), compensation AS (
  -- Runs whether or not the query reads it (a data-modifying WITH always does).
  INSERT INTO offer_compensations (customer_id, offer_id, grant_id)
  SELECT customer_id, offer_id, id FROM granted WHERE $20
), audited AS (
  SELECT append_audit_entries(ARRAY[$12::text], ARRAY[$13::timestamptz],
                              ARRAY[array_to_json($14::text[])::text], ARRAY[$15::text],
                              ARRAY[$16::text], ARRAY[$17::text], ARRAY[$18::text],
                              ARRAY[$19::text]) AS appended
  FROM granted
), money AS (
  -- In the select list, so it is called once per row of audited: after the grant, never
  -- without one.
  SELECT ledger_post($25, $26, $27, $28, $29, $30::text[], $31::text[], $32::text[],
                     $33::bigint[], $34, $35, $36::text[], $37, $38, $39, $40, $41) AS posted
  FROM audited WHERE $25::text IS NOT NULL
)
-- audited and money are referenced here, so both run (at most one row on each side).
SELECT granted.*, EXISTS (SELECT 1 FROM customer) AS customer_unchanged
FROM (SELECT) AS one
LEFT JOIN (granted CROSS JOIN audited LEFT JOIN money ON true) ON true;

-- name: current_txid
-- This transaction's id, as the audit entries of grant changes record it: a decision's
-- snapshot includes it exactly when the decision saw the change.
SELECT pg_current_xact_id()::text;

-- name: last_receipt
-- The newest receipt of customer $1's grant $2: a state change's, else the acceptance's
-- (index 0).
SELECT seq, receipt FROM (
  SELECT r.seq, r.receipt FROM grant_receipts r WHERE r.customer_id = $1 AND r.grant_id = $2
  UNION ALL
  SELECT 0, g.receipt FROM grants g WHERE g.customer_id = $1 AND g.id = $2
) chain
ORDER BY seq DESC
LIMIT 1;

-- name: append_receipt
INSERT INTO grant_receipts (customer_id, grant_id, seq, event_type, event_state, previous_hash,
                            receipt, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: receipt_chain
-- Every receipt of customer $1's grant $2, oldest first: the acceptance's, then one per state
-- change.
SELECT 0 AS seq, 'given' AS event_type, 'active' AS event_state, NULL AS previous_hash,
       g.receipt, g.granted_at AS created_at
FROM grants g WHERE g.customer_id = $1 AND g.id = $2
UNION ALL
SELECT r.seq, r.event_type, r.event_state, r.previous_hash, r.receipt, r.created_at
FROM grant_receipts r WHERE r.customer_id = $1 AND r.grant_id = $2
ORDER BY seq;

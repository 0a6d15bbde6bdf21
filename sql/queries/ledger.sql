-- Queries of the money ledger and payouts. Each block runs in psql as it is (with PREPARE).

-- name: ensure_accounts
-- The ids of these accounts, opening the missing ones. A row opened concurrently by another
-- transaction may be invisible to this statement's snapshot: the caller asks again.
WITH wanted AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS w (kind, owner_id, currency)
), opened AS (
  INSERT INTO ledger_accounts (kind, owner_id, currency, may_go_negative)
  SELECT kind, owner_id, currency, kind IN ('stripe_clearing', 'funding_adjustments')
  FROM wanted
  ON CONFLICT (kind, owner_id, currency) DO NOTHING
  RETURNING id, kind, owner_id, currency
)
SELECT id, kind, owner_id, currency FROM opened
UNION ALL
-- One probe of the unique key per account, never a join that may scan them all (0085).
SELECT a.id, a.kind, a.owner_id, a.currency
FROM wanted w CROSS JOIN LATERAL (
  SELECT a.id, a.kind, a.owner_id, a.currency FROM ledger_accounts a
  WHERE a.kind = w.kind AND a.owner_id = w.owner_id AND a.currency = w.currency
  LIMIT 1
) a;

-- name: lock_accounts
-- Row locks in one fixed order (by id), so concurrent postings cannot deadlock.
SELECT id, kind, owner_id, currency, balance, may_go_negative
FROM ledger_accounts WHERE id = ANY($1::text[])
ORDER BY id
FOR UPDATE;

-- name: get_transaction_by_key
SELECT id, kind, idempotency_key, reference, reverses, created_at
FROM ledger_transactions WHERE idempotency_key = $1;

-- name: transaction_postings
SELECT p.account_id, a.kind, a.owner_id, p.amount, p.currency
FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
WHERE p.txn_id = $1
ORDER BY p.id;

-- name: account_balances
-- Balances of one owner's accounts, optionally of one kind.
SELECT id, kind, owner_id, currency, balance FROM ledger_accounts
WHERE owner_id = $1 AND ($2::text IS NULL OR kind = $2)
ORDER BY kind, currency;

-- name: recomputed_balances
-- Every account whose stored balance differs from the sum of its postings.
SELECT a.id, a.kind, a.owner_id, a.currency, a.balance,
       coalesce(sum(p.amount), 0)::bigint AS computed
FROM ledger_accounts a LEFT JOIN ledger_postings p ON p.account_id = a.id
GROUP BY a.id
HAVING a.balance <> coalesce(sum(p.amount), 0);

-- name: unbalanced_transactions
SELECT t.id, p.currency, coalesce(sum(p.amount), 0)::bigint AS total, count(p.id) AS postings
FROM ledger_transactions t LEFT JOIN ledger_postings p ON p.txn_id = t.id
GROUP BY t.id, p.currency
HAVING coalesce(sum(p.amount), 0) <> 0 OR count(p.id) < 2;

-- name: escrow_statement
-- One partner's escrow lines, newest first; a transaction posts to an account at most once.
SELECT t.id AS txn_id, t.kind, t.reference, p.amount, p.currency, t.created_at
FROM ledger_postings p
JOIN ledger_accounts a ON a.id = p.account_id
JOIN ledger_transactions t ON t.id = p.txn_id
WHERE a.kind = 'partner_escrow' AND a.owner_id = $1
  AND ($2::text IS NULL OR a.currency = $2)
  AND ($3::text IS NULL OR t.id < $3)
ORDER BY t.id DESC
LIMIT $4;

-- name: customer_earned
-- What a customer earned from accepted grants, per kind and currency.
SELECT a.kind, a.currency, coalesce(sum(p.amount), 0)::bigint AS earned
FROM ledger_accounts a
JOIN ledger_postings p ON p.account_id = a.id
JOIN ledger_transactions t ON t.id = p.txn_id AND t.kind = 'acceptance'
WHERE a.owner_id = $1 AND a.kind IN ('customer_earnings_discount', 'customer_earnings_cash')
GROUP BY a.kind, a.currency;

-- name: customer_payout_totals
SELECT kind, currency, status, sum(amount)::bigint AS total
FROM payouts WHERE customer_id = $1
GROUP BY kind, currency, status;

-- name: customer_payouts
SELECT id, customer_id, kind, amount, currency, status, attempts, stripe_object_id, last_error,
       created_at, updated_at
FROM payouts
WHERE customer_id = $1 AND ($2::text IS NULL OR id < $2)
ORDER BY id DESC
LIMIT $3;

-- name: record_stripe_event
INSERT INTO stripe_events (id, type) VALUES ($1, $2)
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: insert_funding
INSERT INTO partner_fundings (payment_intent_id, partner_id, amount, currency)
VALUES ($1, $2, $3, $4)
ON CONFLICT (payment_intent_id) DO NOTHING;

-- name: partner_exists
SELECT EXISTS (SELECT 1 FROM partners WHERE id = $1);

-- name: customer_jurisdiction
SELECT jurisdiction FROM customers WHERE id = $1;

-- name: set_payout_account
INSERT INTO customer_payment_accounts (customer_id, stripe_account_id) VALUES ($1, $2)
ON CONFLICT (customer_id) DO UPDATE SET stripe_account_id = EXCLUDED.stripe_account_id,
                                        updated_at = now()
RETURNING customer_id, stripe_customer_id, stripe_account_id;

-- name: get_payment_accounts
SELECT customer_id, stripe_customer_id, stripe_account_id FROM customer_payment_accounts
WHERE customer_id = $1;

-- name: set_stripe_customer
-- The first Stripe customer stored wins; a later one (a replayed create) changes nothing.
INSERT INTO customer_payment_accounts (customer_id, stripe_customer_id) VALUES ($1, $2)
ON CONFLICT (customer_id) DO UPDATE
  SET stripe_customer_id = coalesce(customer_payment_accounts.stripe_customer_id,
                                    EXCLUDED.stripe_customer_id),
      updated_at = now()
RETURNING stripe_customer_id;

-- name: all_payment_accounts
SELECT customer_id, stripe_customer_id, stripe_account_id FROM customer_payment_accounts
ORDER BY customer_id;

-- name: earnings_to_settle
SELECT a.id, a.kind, a.owner_id, a.currency, a.balance, pa.stripe_account_id
FROM ledger_accounts a
LEFT JOIN customer_payment_accounts pa ON pa.customer_id = a.owner_id
WHERE a.kind IN ('customer_earnings_discount', 'customer_earnings_cash') AND a.balance > 0
ORDER BY a.id;

-- name: new_payout_id
SELECT new_id('po');

-- name: insert_payout
INSERT INTO payouts (id, customer_id, kind, amount, currency, txn_id)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id, customer_id, kind, amount, currency, status, attempts, stripe_object_id,
          last_error, created_at, updated_at;

-- name: get_payout
SELECT id, customer_id, kind, amount, currency, status, attempts, stripe_object_id, last_error,
       created_at, updated_at, txn_id
FROM payouts WHERE id = $1;

-- name: lock_payout
SELECT id, customer_id, kind, amount, currency, status, attempts, stripe_object_id, last_error,
       created_at, updated_at, txn_id
FROM payouts WHERE id = $1
FOR UPDATE;

-- name: update_payout
UPDATE payouts SET status = $2, attempts = $3, stripe_object_id = $4, last_error = $5,
                   updated_at = now()
WHERE id = $1
RETURNING id, customer_id, kind, amount, currency, status, attempts, stripe_object_id,
          last_error, created_at, updated_at;

-- name: stale_pending_payouts
-- Pending payouts nobody touched for a while: their job may be lost; enqueue them again.
SELECT id FROM payouts
WHERE status = 'pending' AND updated_at < now() - make_interval(secs => $1)
ORDER BY id;

-- name: all_payouts
SELECT id, customer_id, kind, amount, currency, status, attempts, stripe_object_id, last_error,
       created_at, updated_at
FROM payouts ORDER BY id;

-- name: post
-- One balanced transaction with its audit entry, in one call (migration 0081).
SELECT txn_id, created_at, created
FROM ledger_post($1, $2, $3, $4, $5, $6::text[], $7::text[], $8::text[], $9::bigint[],
                 $10, $11, $12::text[], $13, $14, $15, $16, $17);

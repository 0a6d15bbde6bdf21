-- A posting's accounts are found by one index probe each, and the function's statements are
-- planned once per session (issue 17).
--
-- 0081 joined the wanted accounts to ledger_accounts. The planner guesses 10 rows for an unnest
-- of parameters, and below a few thousand accounts it costed a hash join over a scan of every
-- account as cheaper than 10 probes. Once ANALYZE had seen such a table, every posting scanned
-- all the accounts on the books, and kept doing so as they grew: PostgreSQL's CPU per
-- acceptance rose by half over some 6,000 customers' first acceptances.
-- - Now a LATERAL subquery with a LIMIT, which the planner cannot flatten into a join, looks up
--   each account on its own; by a unique key that is an index probe once the table is past its
--   first page.
-- - With the join gone, the generic plan (costed for 10 accounts) is dearer than a custom one
--   for the real 2 or 3, so PostgreSQL planned the lookup afresh on every call: an eighth of an
--   acceptance's database CPU. The function now always runs its cached generic plans
--   (plan_cache_mode): each of its statements is a lookup by key or an insert, whose plan does
--   not depend on the values.
-- In ledger_post only the lookup and that setting change; the balance trigger (at the end)
-- loses its scan the same way.

CREATE OR REPLACE FUNCTION ledger_post(
  p_txn_id text, p_kind text, p_key text, p_reference text, p_reverses text,
  kinds text[], owners text[], currencies text[], amounts bigint[],
  e_kind text, e_at timestamptz, e_jurisdictions text[], e_partner_id text, e_subject text,
  e_category text, e_outcome text, e_entry text
) RETURNS TABLE (txn_id text, created_at timestamptz, created boolean)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  a record;
  ids text[];
  amts bigint[];
  curs text[];
BEGIN
  INSERT INTO ledger_transactions AS t (id, kind, idempotency_key, reference, reverses)
  VALUES (p_txn_id, p_kind, p_key, p_reference, p_reverses)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING t.id, t.created_at INTO txn_id, created_at;
  IF txn_id IS NULL THEN
    SELECT t.id, t.created_at INTO txn_id, created_at
    FROM ledger_transactions t WHERE t.idempotency_key = p_key;
    created := false;
    RETURN NEXT;
    RETURN;
  END IF;

  -- The accounts, each found by its unique key, locked in one fixed order (by id); the
  -- missing ones (rare: a new customer's earnings) are opened, then looked up again.
  FOR attempt IN 1..2 LOOP
    ids := '{}'; amts := '{}'; curs := '{}';
    -- Each account by one probe of its key, then each locked by one probe of its id, in id
    -- order (the sorted subquery is the outer side of the lateral lock).
    FOR a IN
      SELECT l.id, l.kind, l.currency, l.balance, l.may_go_negative, w.amount
      FROM (
        SELECT k.id, w.amount
        FROM unnest(kinds, owners, currencies, amounts) AS w (kind, owner_id, currency, amount)
        CROSS JOIN LATERAL (
          SELECT k.id FROM ledger_accounts k
          WHERE k.kind = w.kind AND k.owner_id = w.owner_id AND k.currency = w.currency
          LIMIT 1  -- the key is unique: the LIMIT only keeps this a probe (see above)
        ) k
        ORDER BY k.id
      ) w
      CROSS JOIN LATERAL (
        SELECT l.id, l.kind, l.currency, l.balance, l.may_go_negative FROM ledger_accounts l
        WHERE l.id = w.id
        FOR UPDATE
      ) l
    LOOP
      IF NOT a.may_go_negative AND a.balance + a.amount < 0 THEN
        RAISE EXCEPTION '% holds % %, % needed', a.kind, a.balance, a.currency, -a.amount
          USING ERRCODE = 'check_violation',
                CONSTRAINT = CASE a.kind WHEN 'partner_escrow' THEN 'ledger_escrow_not_overdrawn'
                                         ELSE 'ledger_account_not_overdrawn' END;
      END IF;
      ids := ids || a.id; amts := amts || a.amount; curs := curs || a.currency;
    END LOOP;
    EXIT WHEN cardinality(ids) = cardinality(kinds);
    IF attempt = 2 THEN
      RAISE EXCEPTION 'a ledger account of transaction % was opened concurrently', p_txn_id
        USING ERRCODE = 'serialization_failure';
    END IF;
    INSERT INTO ledger_accounts (kind, owner_id, currency, may_go_negative)
    SELECT w.kind, w.owner_id, w.currency, w.kind IN ('stripe_clearing', 'funding_adjustments')
    FROM unnest(kinds, owners, currencies) AS w (kind, owner_id, currency)
    ON CONFLICT (kind, owner_id, currency) DO NOTHING;
  END LOOP;

  INSERT INTO ledger_postings (txn_id, account_id, amount, currency)
  SELECT p_txn_id, p.account_id, p.amount, p.currency
  FROM unnest(ids, amts, curs) AS p (account_id, amount, currency);
  PERFORM append_audit_entries(ARRAY[e_kind], ARRAY[e_at],
                               ARRAY[array_to_json(e_jurisdictions)::text], ARRAY[e_partner_id],
                               ARRAY[e_subject], ARRAY[e_category], ARRAY[e_outcome],
                               ARRAY[e_entry]);
  created := true;
  RETURN NEXT;
END
$$;

-- The statement-level trigger of 0080 moved balances with one UPDATE whose accounts were
-- reached by `id = ANY (array)`: costed for 10 ids, that too was a scan of every account below
-- a few thousand. Now one UPDATE by primary key per account, in id order.
CREATE OR REPLACE FUNCTION ledger_apply_postings() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  account text;
  total bigint;
  txn text;
  bad text;
BEGIN
  -- Balances first, so that an overdraft is refused by ledger_account_not_overdrawn.
  FOR account, total IN
    SELECT p.account_id, sum(p.amount) FROM posted p GROUP BY p.account_id ORDER BY p.account_id
  LOOP
    UPDATE ledger_accounts SET balance = balance + total WHERE id = account;
  END LOOP;
  SELECT p.txn_id, p.currency INTO txn, bad FROM posted p
  GROUP BY p.txn_id, p.currency HAVING sum(p.amount) <> 0 LIMIT 1;
  IF txn IS NOT NULL THEN
    RAISE EXCEPTION 'ledger transaction % does not balance in %', txn, bad
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;

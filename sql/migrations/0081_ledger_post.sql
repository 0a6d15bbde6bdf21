-- Posting a ledger transaction in one call (issue 17: the fewest round trips). Books.post
-- calls it alone; an acceptance calls it inside its own one statement, after the grant.
--
-- p_txn_id is chosen by the caller, so that the transaction's audit entry (which names it)
-- is written by this same call. A replayed idempotency key posts nothing and returns the
-- transaction already posted (created = false). The accounts are opened if missing, then
-- locked in one fixed order (by id: concurrent postings cannot deadlock); an account that may
-- not go negative and would be overdrawn is refused before any posting, naming it
-- (ledger_escrow_not_overdrawn for a partner's escrow, else ledger_account_not_overdrawn).
-- The balance CHECK and the statement-level trigger of migration 0080 stay the last word.
-- Each statement inside takes a fresh snapshot (READ COMMITTED), so an account another
-- transaction opened meanwhile is found; under a transaction snapshot it may be invisible:
-- that is refused as a serialization failure, to be retried.
CREATE FUNCTION ledger_post(
  p_txn_id text, p_kind text, p_key text, p_reference text, p_reverses text,
  kinds text[], owners text[], currencies text[], amounts bigint[],
  e_kind text, e_at timestamptz, e_jurisdictions text[], e_partner_id text, e_subject text,
  e_category text, e_outcome text, e_entry text
) RETURNS TABLE (txn_id text, created_at timestamptz, created boolean)
LANGUAGE plpgsql VOLATILE AS $$
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
    FOR a IN
      SELECT l.id, l.kind, l.currency, l.balance, l.may_go_negative, w.amount
      FROM ledger_accounts l
      JOIN unnest(kinds, owners, currencies, amounts) AS w (kind, owner_id, currency, amount)
        ON l.kind = w.kind AND l.owner_id = w.owner_id AND l.currency = w.currency
      WHERE l.id = ANY (ARRAY(
        SELECT k.id FROM unnest(kinds, owners, currencies) AS u (kind, owner_id, currency)
        JOIN LATERAL (
          SELECT k.id FROM ledger_accounts k
          WHERE k.kind = u.kind AND k.owner_id = u.owner_id AND k.currency = u.currency
        ) k ON true))
      ORDER BY l.id
      FOR UPDATE OF l
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

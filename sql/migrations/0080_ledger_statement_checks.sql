-- The ledger's checks once per statement instead of once per posting (the acceptance path,
-- issue 17). What holds is unchanged: every account's balance is the sum of its postings,
-- moved in the posting's own statement (the CHECK still refuses an overdraft there); every
-- transaction's postings sum to zero per currency; a transaction has two or more postings.
--
-- Stricter than before in one way: each statement that inserts postings must leave every
-- transaction it touches balanced (it was enough to balance by commit). A transaction that
-- was balanced and gains balanced postings stays balanced, so checking the statement's own
-- rows is checking the whole transaction; a single non-zero posting can never balance alone,
-- so "two or more" follows for every transaction with postings. The one case left for commit
-- is a transaction row with no postings at all: its deferred trigger stays, one per
-- transaction (the per-posting one goes).

DROP TRIGGER ledger_postings_apply ON ledger_postings;
DROP TRIGGER ledger_postings_balanced ON ledger_postings;

CREATE FUNCTION ledger_apply_postings() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  txn text;
  bad text;
BEGIN
  -- Balances first, so that an overdraft is refused by ledger_account_not_overdrawn. The
  -- accounts are reached by primary key (a transition table has no statistics: a plain join
  -- could be planned as a scan of every account).
  UPDATE ledger_accounts a SET balance = a.balance + s.total
  FROM (SELECT account_id, sum(amount) AS total FROM posted GROUP BY account_id) s
  WHERE a.id = ANY (ARRAY(SELECT DISTINCT account_id FROM posted)) AND a.id = s.account_id;
  SELECT p.txn_id, p.currency INTO txn, bad FROM posted p
  GROUP BY p.txn_id, p.currency HAVING sum(p.amount) <> 0 LIMIT 1;
  IF txn IS NOT NULL THEN
    RAISE EXCEPTION 'ledger transaction % does not balance in %', txn, bad
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER ledger_postings_apply AFTER INSERT ON ledger_postings
  REFERENCING NEW TABLE AS posted
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_apply_postings();

-- At commit, for each new transaction row: it has postings (their statements balanced them).
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  SELECT count(*) INTO n FROM ledger_postings WHERE txn_id = NEW.id;
  IF n < 2 THEN
    RAISE EXCEPTION 'ledger transaction % has % posting(s); at least two are required',
      NEW.id, n USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;

-- The money ledger (double entry), partner funding through Stripe, and customer payouts.
--
-- Sign convention: a posting's amount is added to its account's balance. Escrow, earnings,
-- fee revenue and payouts in transit hold money (positive balances); the Stripe clearing
-- account mirrors them (money in at Stripe is negative there), so every transaction sums to 0.

CREATE TABLE ledger_accounts (
  id         text PRIMARY KEY DEFAULT new_id('acc'),
  kind       text NOT NULL CHECK (kind IN (
               'partner_escrow', 'customer_earnings_discount', 'customer_earnings_cash',
               'platform_fees', 'stripe_clearing', 'payouts_in_transit', 'funding_adjustments')),
  owner_id   text NOT NULL DEFAULT '',   -- partner or customer id; '' for platform accounts
  currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  -- Kept equal to the sum of the account's postings by the trigger below, under the row lock.
  balance    bigint NOT NULL DEFAULT 0,
  may_go_negative boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ledger_account_not_overdrawn CHECK (may_go_negative OR balance >= 0),
  UNIQUE (kind, owner_id, currency),
  UNIQUE (id, currency)
);

CREATE TABLE ledger_transactions (
  id              text PRIMARY KEY DEFAULT new_id('txn'),
  kind            text NOT NULL,   -- funding, acceptance, payout, payout_settled, reversal, ...
  idempotency_key text NOT NULL UNIQUE,
  reference       text,            -- what it is about: a grant, payout or PaymentIntent id
  reverses        text REFERENCES ledger_transactions (id),
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_transactions_by_reference ON ledger_transactions (reference);

CREATE TABLE ledger_postings (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  txn_id     text NOT NULL REFERENCES ledger_transactions (id),
  account_id text NOT NULL,
  amount     bigint NOT NULL CHECK (amount <> 0),
  currency   text NOT NULL,
  -- A posting is in its account's currency, by construction.
  FOREIGN KEY (account_id, currency) REFERENCES ledger_accounts (id, currency),
  UNIQUE (txn_id, account_id)
);
CREATE INDEX ledger_postings_by_account ON ledger_postings (account_id, txn_id DESC);

-- History is never rewritten: a correction is a reversing transaction.
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Each posting moves its account's balance at once (the CHECK above refuses an overdraft).
CREATE FUNCTION ledger_apply_posting() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ledger_accounts SET balance = balance + NEW.amount WHERE id = NEW.account_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER ledger_postings_apply AFTER INSERT ON ledger_postings
  FOR EACH ROW EXECUTE FUNCTION ledger_apply_posting();

-- At commit: every transaction touched has two or more postings summing to zero per currency.
CREATE FUNCTION ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  txn text;
  n integer;
  bad text;
BEGIN
  IF TG_TABLE_NAME = 'ledger_transactions' THEN
    txn := NEW.id;
  ELSE
    txn := NEW.txn_id;
  END IF;
  SELECT count(*) INTO n FROM ledger_postings WHERE txn_id = txn;
  IF n < 2 THEN
    RAISE EXCEPTION 'ledger transaction % has % posting(s); at least two are required', txn, n
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  SELECT currency INTO bad FROM ledger_postings WHERE txn_id = txn
  GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ledger transaction % does not balance in %', txn, bad
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER ledger_transactions_balanced AFTER INSERT ON ledger_transactions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();
CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

-- Stripe webhook events already handled: a redelivery is acknowledged and changes nothing.
CREATE TABLE stripe_events (
  id          text PRIMARY KEY,
  type        text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);

-- Partner funding requests (Stripe PaymentIntents); escrow is credited by the webhook.
CREATE TABLE partner_fundings (
  payment_intent_id text PRIMARY KEY,
  partner_id        text NOT NULL REFERENCES partners (id),
  amount            bigint NOT NULL CHECK (amount > 0),
  currency          text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX partner_fundings_by_partner ON partner_fundings (partner_id);

-- Where a customer is paid: their Stripe customer (bill credits) and connected account (cash).
CREATE TABLE customer_payment_accounts (
  customer_id        text PRIMARY KEY REFERENCES customers (id),
  stripe_customer_id text,
  stripe_account_id  text CHECK (stripe_account_id ~ '^acct_[A-Za-z0-9]{1,64}$'),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- The payout outbox: written with its ledger transaction, paid by a worker through Stripe.
CREATE TABLE payouts (
  id              text PRIMARY KEY DEFAULT new_id('po'),
  customer_id     text NOT NULL REFERENCES customers (id),
  kind            text NOT NULL CHECK (kind IN ('discount', 'cash')),
  amount          bigint NOT NULL CHECK (amount > 0),
  currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status          text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  txn_id          text NOT NULL REFERENCES ledger_transactions (id),
  stripe_object_id text,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payouts_by_customer ON payouts (customer_id, id);
CREATE INDEX payouts_pending ON payouts (id) WHERE status = 'pending';

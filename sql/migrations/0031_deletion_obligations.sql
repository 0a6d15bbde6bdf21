-- Consent has an afterlife (DESIGN §3.12): when a grant ends or narrows, the partner owes a
-- deletion of what it received; the customer is told each step; an overdue partner is
-- suspended. See docs/deletion.md.

-- One obligation per ended (or narrowed) grant: what the partner received under it, taken
-- from the decisions table when the grant ended, and the partner's confirmation.
-- `state`: open (owed), confirmed, or not_required (no record was ever released under the
-- grant for these categories: closed at once, nothing to delete).
CREATE TABLE deletion_obligations (
  id               text PRIMARY KEY DEFAULT new_id('dlo'),
  grant_id         text NOT NULL REFERENCES grants (id),
  partner_id       text NOT NULL REFERENCES partners (id),
  customer_id      text NOT NULL REFERENCES customers (id),
  -- The customer's jurisdiction when it opened: its regulator sees the obligation.
  jurisdiction     text NOT NULL CHECK (jurisdiction ~ '^[A-Z]{2}$'),
  cause            text NOT NULL
                   CHECK (cause IN ('revoked', 'expired', 'data_erased', 'account_closed',
                                    'narrowed')),
  categories       text[] NOT NULL CHECK (cardinality(categories) >= 1),
  records_released bigint NOT NULL CHECK (records_released >= 0),
  -- The span of the released data: the earliest record released, and the last read (every
  -- record released was recorded before the read that released it).
  data_from        timestamptz,
  data_to          timestamptz,
  state            text NOT NULL CHECK (state IN ('open', 'confirmed', 'not_required')),
  opened_at        timestamptz NOT NULL,
  due_at           timestamptz NOT NULL CHECK (due_at > opened_at),
  due_soon_sent_at timestamptz,
  overdue_sent_at  timestamptz,
  confirmed_at     timestamptz,
  method           text CHECK (method IN ('deleted', 'de_identified')),
  statement        text CHECK (length(statement) BETWEEN 1 AND 2000),
  completed_at     timestamptz,
  receipt          text,
  CONSTRAINT deletion_obligations_confirmation CHECK (
    (state = 'confirmed') = (confirmed_at IS NOT NULL AND method IS NOT NULL
                             AND statement IS NOT NULL AND completed_at IS NOT NULL
                             AND receipt IS NOT NULL)),
  CONSTRAINT deletion_obligations_released CHECK ((state = 'not_required') = (records_released = 0))
);
CREATE INDEX deletion_obligations_by_partner ON deletion_obligations (partner_id, id);
CREATE INDEX deletion_obligations_by_grant ON deletion_obligations (grant_id, id);
CREATE INDEX deletion_obligations_by_customer ON deletion_obligations (customer_id, id);
CREATE INDEX deletion_obligations_open_due ON deletion_obligations (due_at)
  WHERE state = 'open';

-- A partner suspended for overdue deletions says why; an operator lifting the suspension holds
-- it off until `suspension_lifted_until` (the sweep does not suspend again before then).
ALTER TABLE partners
  ADD COLUMN suspended_reason text CHECK (suspended_reason IN ('deletion_overdue')),
  ADD COLUMN suspended_at timestamptz,
  ADD COLUMN suspension_lifted_until timestamptz;

-- What a person should be told, rendered in their language when read (the `kind` and its
-- `params` are language-free). `dedupe_key` makes a scheduled notification happen once.
CREATE TABLE notifications (
  id          text PRIMARY KEY DEFAULT new_id('ntf'),
  customer_id text NOT NULL REFERENCES customers (id),
  kind        text NOT NULL,
  params      jsonb NOT NULL,
  dedupe_key  text,
  created_at  timestamptz NOT NULL,
  UNIQUE (customer_id, dedupe_key)
);
CREATE INDEX notifications_by_customer ON notifications (customer_id, id);

-- Operator-level webhook endpoints (`notification.created`) have no partner: the operator
-- forwards what customers are told to its own channels (SMS, app push).
ALTER TABLE webhook_endpoints ALTER COLUMN partner_id DROP NOT NULL;
ALTER TABLE webhook_events ALTER COLUMN partner_id DROP NOT NULL;
CREATE INDEX webhook_endpoints_of_operator ON webhook_endpoints (id)
  WHERE partner_id IS NULL AND deleted_at IS NULL;

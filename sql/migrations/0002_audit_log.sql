-- The audit log: append-only entries, written in the same transaction as their action.

-- Each customer's pseudonym key. Destroying it (account erasure) unlinks the log from the
-- person while every entry, and so every proof, stays as it was.
CREATE TABLE customer_audit_keys (
  customer_id text PRIMARY KEY REFERENCES customers (id),
  secret      bytea NOT NULL CHECK (length(secret) = 32)
);

CREATE TABLE audit_entries (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The writing transaction: the sealer takes entries in order of completed transactions,
  -- so an entry that commits late is sealed later, never skipped.
  txid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
  kind         text NOT NULL,
  at           timestamptz NOT NULL,
  jurisdictions text[] NOT NULL DEFAULT '{}',  -- whose regulators may read it
  partner_id   text,
  subject      text,           -- the customer's keyed pseudonym, never the customer id
  category     text,
  outcome      text,
  entry        text NOT NULL   -- RFC 8785 canonical JSON: exactly the bytes the leaf hashes
);
CREATE INDEX audit_entries_by_txid ON audit_entries (txid, id);
CREATE INDEX audit_entries_by_jurisdictions ON audit_entries USING gin (jurisdictions);
CREATE INDEX audit_entries_by_subject ON audit_entries (subject, id);

CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

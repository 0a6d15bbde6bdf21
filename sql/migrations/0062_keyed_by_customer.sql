-- Every customer's rows keyed by the customer too, so the schema can be distributed by
-- customer with Citus (DESIGN §5; sql/distribution.py says where each table goes, and
-- tests/integration/test_distribution.py holds the catalog to it). Citus enforces a unique key
-- on a distributed table only if it includes the distribution column, and a foreign key
-- between two of them only if it joins on it: so primary keys become (customer_id, id),
-- foreign keys to grants and imports become composite, and the two keys that must be unique
-- over all customers (the operator's reference, an imported package) move to tables of their
-- own. records and decisions follow in 0063, when they are partitioned.

-- Foreign keys on the old single-column keys, re-made composite below.
ALTER TABLE offer_compensations
  DROP CONSTRAINT offer_compensations_grant_id_fkey,
  DROP CONSTRAINT offer_compensations_grant_id_key;
ALTER TABLE deletion_obligations DROP CONSTRAINT deletion_obligations_grant_id_fkey;
ALTER TABLE grant_receipts DROP CONSTRAINT grant_receipts_grant_id_fkey;
ALTER TABLE imported_consents DROP CONSTRAINT imported_consents_import_id_fkey;

-- Primary keys by customer. Each replaces its table's (customer_id, id) index; a plain index on
-- id keeps the lookups by id alone (a partner's grant, the expiry job) an index probe.
ALTER TABLE grants DROP CONSTRAINT grants_pkey, ADD PRIMARY KEY (customer_id, id);
DROP INDEX grants_by_customer;
CREATE INDEX grants_by_id ON grants (id);

ALTER TABLE deletion_obligations DROP CONSTRAINT deletion_obligations_pkey,
  ADD PRIMARY KEY (customer_id, id);
DROP INDEX deletion_obligations_by_customer;
CREATE INDEX deletion_obligations_by_id ON deletion_obligations (id);

ALTER TABLE notifications DROP CONSTRAINT notifications_pkey, ADD PRIMARY KEY (customer_id, id);
DROP INDEX notifications_by_customer;

ALTER TABLE exports DROP CONSTRAINT exports_pkey, ADD PRIMARY KEY (customer_id, id);
DROP INDEX exports_by_customer;
CREATE INDEX exports_by_id ON exports (id);

ALTER TABLE imports DROP CONSTRAINT imports_pkey, ADD PRIMARY KEY (customer_id, id);

ALTER TABLE imported_consents DROP CONSTRAINT imported_consents_pkey,
  ADD PRIMARY KEY (customer_id, id);
DROP INDEX imported_consents_by_customer;

-- The references into grants and imports, by customer.
ALTER TABLE offer_compensations
  ADD CONSTRAINT offer_compensations_grant_key UNIQUE (customer_id, grant_id),
  ADD CONSTRAINT offer_compensations_grant_fkey FOREIGN KEY (customer_id, grant_id)
    REFERENCES grants (customer_id, id);
ALTER TABLE deletion_obligations
  ADD CONSTRAINT deletion_obligations_grant_fkey FOREIGN KEY (customer_id, grant_id)
    REFERENCES grants (customer_id, id);
ALTER TABLE imported_consents
  ADD CONSTRAINT imported_consents_import_fkey FOREIGN KEY (customer_id, import_id)
    REFERENCES imports (customer_id, id);

-- A receipt chain names its grant's customer. The rows are history (grant_receipts_immutable):
-- the trigger is off only while this migration fills the new column, in its own transaction.
ALTER TABLE grant_receipts ADD COLUMN customer_id text;
ALTER TABLE grant_receipts DISABLE TRIGGER grant_receipts_immutable;
UPDATE grant_receipts r SET customer_id = g.customer_id FROM grants g WHERE g.id = r.grant_id;
ALTER TABLE grant_receipts ENABLE TRIGGER grant_receipts_immutable;
ALTER TABLE grant_receipts
  ALTER COLUMN customer_id SET NOT NULL,
  DROP CONSTRAINT grant_receipts_pkey,
  ADD PRIMARY KEY (customer_id, grant_id, seq),
  ADD CONSTRAINT grant_receipts_grant_fkey FOREIGN KEY (customer_id, grant_id)
    REFERENCES grants (customer_id, id);

-- The operator's reference is unique over every customer: claimed here, in the statement that
-- creates the customer (sql/queries/offers.sql insert_customer), and freed when the account
-- closes. No foreign key: under Citus this table is sharded by the reference, not colocated
-- with customers.
CREATE TABLE customer_refs (
  external_ref text PRIMARY KEY,
  customer_id  text NOT NULL
);
INSERT INTO customer_refs (external_ref, customer_id)
SELECT external_ref, id FROM customers WHERE closed_at IS NULL;
ALTER TABLE customers DROP CONSTRAINT customers_external_ref_key;

-- An export package is imported once, whoever it is imported into (each import creates its
-- customer): claimed with the import, freed when the account closes.
CREATE TABLE import_claims (
  issuer      text NOT NULL,
  export_id   text NOT NULL,
  customer_id text NOT NULL,
  import_id   text NOT NULL,
  PRIMARY KEY (export_id, issuer)
);
CREATE INDEX import_claims_by_customer ON import_claims (customer_id);
INSERT INTO import_claims (issuer, export_id, customer_id, import_id)
SELECT issuer, export_id, customer_id, id FROM imports;
ALTER TABLE imports DROP CONSTRAINT imports_issuer_export_id_key;

-- The payout outbox stays with the ledger, on one node: Citus allows no foreign key from
-- there into a customer's shard. Payouts are made from a customer's earnings account, whose
-- owner is that customer; customers are never deleted (a closed account is a tombstone).
ALTER TABLE payouts DROP CONSTRAINT payouts_customer_id_fkey;

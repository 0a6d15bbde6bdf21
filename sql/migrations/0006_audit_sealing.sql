-- Sealing the audit log: leaves in log order, signed checkpoints, the sealer's state, and an
-- application role that may append to the audit tables but never change them.

-- Every sealed entry's place in the RFC 9162 tree. leaf_hash = SHA-256(0x00 ‖ entry bytes),
-- stored as it was computed when sealed, so a later edit of the entry shows as a mismatch.
CREATE TABLE audit_leaves (
  leaf_index bigint PRIMARY KEY CHECK (leaf_index >= 0),
  entry_id   bigint NOT NULL UNIQUE REFERENCES audit_entries (id),
  leaf_hash  bytea NOT NULL CHECK (length(leaf_hash) = 32)
);

-- Each published tree head: a C2SP signed note over (origin, tree_size, root_hash).
CREATE TABLE audit_checkpoints (
  tree_size  bigint PRIMARY KEY CHECK (tree_size >= 0),
  root_hash  bytea NOT NULL CHECK (length(root_hash) = 32),
  note       text NOT NULL,
  sealed_at  timestamptz NOT NULL DEFAULT now()
);

-- The one mutable row: the compact tree (size + frontier) and how far sealing got.
-- Entries are sealed in (txid, id) order, only once their txid is below the snapshot xmin,
-- i.e. once no transaction that could still commit an earlier entry is running.
CREATE TABLE audit_sealer_state (
  singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  tree_size     bigint NOT NULL DEFAULT 0,
  frontier      bytea[] NOT NULL DEFAULT '{}',
  watermark     xid8 NOT NULL DEFAULT '0',   -- every entry with txid < watermark is sealed
  last_txid     xid8 NOT NULL DEFAULT '0',   -- (last_txid, last_entry_id): the last one sealed
  last_entry_id bigint NOT NULL DEFAULT 0,
  updated_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_sealer_state DEFAULT VALUES;

CREATE TRIGGER audit_leaves_append_only BEFORE UPDATE OR DELETE ON audit_leaves
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_leaves_no_truncate BEFORE TRUNCATE ON audit_leaves
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_sealer_state_no_delete BEFORE DELETE ON audit_sealer_state
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_sealer_state_no_truncate BEFORE TRUNCATE ON audit_sealer_state
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Customers' access history and the regulator's filters.
CREATE INDEX audit_entries_by_kind_at ON audit_entries (kind, at);

-- The application role. Roles are cluster-wide (many databases share one server in tests), so
-- creating it tolerates its existence. The app's pool does SET ROLE marketplace_app when the
-- role exists (marketplace/db.py); migrations keep running as the connecting user.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'marketplace_app') THEN
    CREATE ROLE marketplace_app NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;  -- another database's migration created it at the same moment
END
$$;

DO $$
BEGIN
  -- A non-superuser migrator must be a member to SET ROLE; a superuser needs nothing.
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
     AND NOT pg_has_role(current_user, 'marketplace_app', 'MEMBER') THEN
    EXECUTE format('GRANT marketplace_app TO %I', current_user);
  END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO marketplace_app;
GRANT ALL ON ALL TABLES IN SCHEMA public TO marketplace_app;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO marketplace_app;
-- Tables created by later migrations (and the job queue's) as the same user.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO marketplace_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO marketplace_app;

-- The audit tables: append and read only. The sealer's state row alone may be updated.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_entries, audit_leaves, audit_checkpoints,
  customer_audit_keys FROM marketplace_app;
REVOKE DELETE, TRUNCATE ON audit_sealer_state FROM marketplace_app;
-- Erasure destroys a customer's pseudonym key: deleting that row is the one allowed change.
GRANT DELETE ON customer_audit_keys TO marketplace_app;

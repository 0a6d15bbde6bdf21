-- records, decisions and audit_entries grow without end: each becomes a table partitioned by
-- month (declarative range partitioning, plain PostgreSQL), so that retention drops or
-- detaches a month instead of deleting rows one by one, vacuum and its freezing work on the
-- months that still change, and the partner read, whose window starts at its lookback, reads
-- only the months inside it. See docs/scale.md.
--
-- The rows already there are not copied: each table becomes its own first partition (from
-- MINVALUE to the first month boundary after its newest row), so the audit log in particular
-- keeps every row exactly as written. The months after it are made by
-- create_month_partitions, at every migration and daily by the job worker, months before they
-- are needed; a row arriving for a month with no partition yet lands in the table's default
-- partition and is moved into its month when that month is made (never an audit entry: the
-- log is not rewritten, even by maintenance, so such a month stays in the default partition).
--
-- Every unique key includes the partition key, as PostgreSQL requires (and customer_id first
-- on the customer's tables, as Citus requires: 0062). The new tables' CHECK constraints carry
-- the old tables' names: a partition is attached only with its parent's constraints, by name.

-- Which partition a month is: <table>_y<YYYY>m<MM>.
CREATE FUNCTION month_partition_name(parent text, month timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT parent || '_' || to_char(month AT TIME ZONE 'UTC', '"y"YYYY"m"MM')
$$;

-- The first month boundary after a table's newest row, and never before next month.
CREATE FUNCTION partition_start(newest timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT greatest(date_trunc('month', now(), 'UTC'),
                  coalesce(date_trunc('month', newest, 'UTC'), '-infinity'))
         + interval '1 month'
$$;

-- records ---------------------------------------------------------------------------------

ALTER TABLE records RENAME TO records_legacy;
ALTER INDEX records_pkey RENAME TO records_legacy_pkey;
ALTER INDEX records_by_customer_category RENAME TO records_legacy_by_customer_category;
ALTER INDEX records_by_cell_time RENAME TO records_legacy_by_cell_time;
ALTER TABLE records_legacy DROP CONSTRAINT records_legacy_pkey,
  ADD CONSTRAINT records_legacy_pkey PRIMARY KEY (customer_id, id, recorded_at);

CREATE TABLE records (
  id          text NOT NULL DEFAULT new_id('rec'),
  customer_id text NOT NULL REFERENCES customers (id),
  category    text NOT NULL CONSTRAINT records_category_check
                CHECK (category ~ '^[a-z_]{1,64}$'),
  recorded_at timestamptz NOT NULL,
  source      text NOT NULL CONSTRAINT records_source_check
                CHECK (length(source) BETWEEN 1 AND 200),
  payload     json NOT NULL,
  ingested_at timestamptz NOT NULL DEFAULT now(),
  h3_cell     bigint,
  measure     bigint,
  PRIMARY KEY (customer_id, id, recorded_at)
) PARTITION BY RANGE (recorded_at);
CREATE INDEX records_by_customer_category ON records (customer_id, category, recorded_at DESC, id);
CREATE INDEX records_by_cell_time ON records (category, recorded_at, h3_cell)
  INCLUDE (customer_id) WHERE h3_cell IS NOT NULL;

DO $$
BEGIN
  -- The old table's indexes match the new ones: attaching adopts them, nothing is rebuilt.
  EXECUTE format('ALTER TABLE records ATTACH PARTITION records_legacy'
                 ' FOR VALUES FROM (MINVALUE) TO (%L)',
                 partition_start((SELECT max(recorded_at) FROM records_legacy)));
END
$$;
CREATE TABLE records_default PARTITION OF records DEFAULT;

-- decisions -------------------------------------------------------------------------------

ALTER TABLE decisions RENAME TO decisions_legacy;
ALTER INDEX decisions_pkey RENAME TO decisions_legacy_pkey;
ALTER INDEX decisions_by_partner RENAME TO decisions_legacy_by_partner;
-- The primary key (customer_id, id, at) serves what decisions_by_customer did.
DROP INDEX decisions_by_customer;
ALTER TABLE decisions_legacy DROP CONSTRAINT decisions_legacy_pkey,
  ADD CONSTRAINT decisions_legacy_pkey PRIMARY KEY (customer_id, id, at);

CREATE TABLE decisions (
  id            text NOT NULL DEFAULT new_id('dec'),
  at            timestamptz NOT NULL,
  partner_id    text NOT NULL REFERENCES partners (id),
  customer_id   text NOT NULL,
  category      text NOT NULL,
  purpose       text NOT NULL,
  allowed       boolean NOT NULL,
  reasons       text[] NOT NULL CONSTRAINT decisions_reasons_check
                  CHECK (cardinality(reasons) >= 1),
  rule_ids      text[] NOT NULL DEFAULT '{}',
  grant_id      text,
  rules_version text NOT NULL,
  window_start  timestamptz,
  returned      integer NOT NULL DEFAULT 0 CONSTRAINT decisions_returned_check
                  CHECK (returned >= 0),
  PRIMARY KEY (customer_id, id, at)
) PARTITION BY RANGE (at);
CREATE INDEX decisions_by_partner ON decisions (partner_id, id);

DO $$
BEGIN
  EXECUTE format('ALTER TABLE decisions ATTACH PARTITION decisions_legacy'
                 ' FOR VALUES FROM (MINVALUE) TO (%L)',
                 partition_start((SELECT max(at) FROM decisions_legacy)));
END
$$;
CREATE TABLE decisions_default PARTITION OF decisions DEFAULT;

-- audit_entries ---------------------------------------------------------------------------
-- Its triggers, privileges and its one writer (append_audit_entries) stay as they were: the
-- row triggers are the partitioned table's and so every partition's; the statement-level
-- TRUNCATE trigger and the revoked privileges are made on each partition as well, since a
-- partition can be addressed by name (protect_audit_partition).

-- A leaf names its entry's month too: the foreign key must carry the partition key.
ALTER TABLE audit_leaves ADD COLUMN entry_at timestamptz;
ALTER TABLE audit_leaves DISABLE TRIGGER audit_leaves_append_only;
UPDATE audit_leaves l SET entry_at = e.at FROM audit_entries e WHERE e.id = l.entry_id;
ALTER TABLE audit_leaves ENABLE TRIGGER audit_leaves_append_only;
ALTER TABLE audit_leaves ALTER COLUMN entry_at SET NOT NULL,
  DROP CONSTRAINT audit_leaves_entry_id_fkey;

ALTER TABLE audit_entries RENAME TO audit_entries_legacy;
ALTER INDEX audit_entries_pkey RENAME TO audit_entries_legacy_pkey;
ALTER INDEX audit_entries_by_txid RENAME TO audit_entries_legacy_by_txid;
ALTER INDEX audit_entries_by_jurisdictions RENAME TO audit_entries_legacy_by_jurisdictions;
ALTER INDEX audit_entries_by_subject RENAME TO audit_entries_legacy_by_subject;
ALTER INDEX audit_entries_by_kind_at RENAME TO audit_entries_legacy_by_kind_at;
ALTER TABLE audit_entries_legacy DROP CONSTRAINT audit_entries_legacy_pkey,
  ADD CONSTRAINT audit_entries_legacy_pkey PRIMARY KEY (id, at);
-- Its ids continue from the same place: one sequence numbers every partition's entries.
ALTER TABLE audit_entries_legacy ALTER COLUMN id DROP IDENTITY;
-- The row triggers move to the partitioned table (and so onto every partition).
DROP TRIGGER audit_entries_append_only ON audit_entries_legacy;

CREATE TABLE audit_entries (
  id            bigint GENERATED ALWAYS AS IDENTITY,
  txid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
  kind          text NOT NULL,
  at            timestamptz NOT NULL,
  jurisdictions text[] NOT NULL DEFAULT '{}',
  partner_id    text,
  subject       text,
  category      text,
  outcome       text,
  entry         text NOT NULL,
  PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX audit_entries_by_txid ON audit_entries (txid, id);
CREATE INDEX audit_entries_by_jurisdictions ON audit_entries USING gin (jurisdictions);
CREATE INDEX audit_entries_by_subject ON audit_entries (subject, id);
CREATE INDEX audit_entries_by_kind_at ON audit_entries (kind, at);
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_entries FROM marketplace_app;

-- What the parent guarantees, on one partition addressed by name.
CREATE FUNCTION protect_audit_partition(partition text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_trigger
                 WHERE tgrelid = partition::regclass AND tgname = 'audit_entries_no_truncate') THEN
    EXECUTE format('CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON %I'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()', partition);
  END IF;
  EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %I FROM marketplace_app',
                 partition);
END
$$;
REVOKE ALL ON FUNCTION protect_audit_partition(text) FROM PUBLIC;

DO $$
DECLARE
  next_id bigint := coalesce((SELECT max(id) FROM audit_entries_legacy), 0) + 1;
BEGIN
  EXECUTE format('ALTER TABLE audit_entries ALTER COLUMN id RESTART WITH %s', next_id);
  EXECUTE format('ALTER TABLE audit_entries ATTACH PARTITION audit_entries_legacy'
                 ' FOR VALUES FROM (MINVALUE) TO (%L)',
                 partition_start((SELECT max(at) FROM audit_entries_legacy)));
END
$$;
CREATE TABLE audit_entries_default PARTITION OF audit_entries DEFAULT;
SELECT protect_audit_partition('audit_entries_legacy');
SELECT protect_audit_partition('audit_entries_default');

ALTER TABLE audit_leaves ADD CONSTRAINT audit_leaves_entry_fkey
  FOREIGN KEY (entry_id, entry_at) REFERENCES audit_entries (id, at);

-- The months ahead ------------------------------------------------------------------------

-- Makes every month's partition from the first one missing through `months_ahead` months
-- after the current one (UTC), for the three tables; returns the partitions it made. Run at
-- each migration and daily by the job worker (marketplace/worker.py), by the owner's rights:
-- the application role may make partitions but not change them. Concurrent runs queue on a
-- lock; a month already made is left as it is.
CREATE FUNCTION create_month_partitions(months_ahead integer) RETURNS SETOF text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
SET TimeZone = 'UTC'
AS $$
DECLARE
  t record;
  lo timestamptz;
  hi timestamptz;
  upto timestamptz := date_trunc('month', now()) + make_interval(months => months_ahead + 1);
  part text;
  waiting boolean;
BEGIN
  IF months_ahead NOT BETWEEN 0 AND 120 THEN
    RAISE EXCEPTION 'months_ahead must be between 0 and 120' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_advisory_xact_lock(727403063);
  FOR t IN SELECT * FROM (VALUES ('records', 'recorded_at'), ('decisions', 'at'),
                                 ('audit_entries', 'at')) AS v (parent, key) LOOP
    -- Where the monthly partitions end: the newest upper bound (the default has none).
    SELECT max((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]
               ::timestamptz)
    INTO lo
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = t.parent::regclass;
    WHILE lo < upto LOOP
      hi := lo + interval '1 month';
      part := month_partition_name(t.parent, lo);
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= $1 AND %I < $2)',
                     t.parent || '_default', t.key, t.key)
        INTO waiting USING lo, hi;
      IF NOT waiting THEN
        EXECUTE format('CREATE TABLE public.%I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       part, t.parent, lo, hi);
      ELSIF t.parent <> 'audit_entries' THEN
        -- Rows that came before their month's partition: moved into it as it is made.
        EXECUTE format('CREATE TABLE public.%I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       part, t.parent);
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *)'
                       ' INSERT INTO %I SELECT * FROM moved',
                       t.parent || '_default', t.key, t.key, part)
          USING lo, hi;
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       t.parent, part, lo, hi);
      ELSE
        -- The audit log is never rewritten: this month's entries stay in the default
        -- partition, and the months after it are made as usual.
        RAISE WARNING 'audit entries of % are in audit_entries_default: no partition for it',
          to_char(lo, 'YYYY-MM');
        lo := hi;
        CONTINUE;
      END IF;
      IF t.parent = 'audit_entries' THEN
        PERFORM protect_audit_partition(part);
      END IF;
      RETURN NEXT part;
      lo := hi;
    END LOOP;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION create_month_partitions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION create_month_partitions(integer) TO marketplace_app;

SELECT create_month_partitions(2);

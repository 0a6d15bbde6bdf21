-- Monthly partitions of records, decisions and audit_entries (0063, docs/scale.md).

-- name: create_month_partitions
-- Every missing month through $1 months after the current one; the names of those made.
SELECT create_month_partitions($1::integer) AS name;

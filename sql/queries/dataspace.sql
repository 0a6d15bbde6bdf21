-- Queries of the Personal Data Space: seeing, erasing, exporting and importing.

-- name: category_summaries
SELECT category, count(*) AS record_count, min(recorded_at) AS first_recorded_at,
       max(recorded_at) AS last_recorded_at, array_agg(DISTINCT source) AS sources
FROM records WHERE customer_id = $1
GROUP BY category;

-- name: active_readers
SELECT g.id AS grant_id, g.partner_id, p.name AS partner_name, g.categories, g.purposes,
       g.expires_at
FROM grants g JOIN partners p ON p.id = g.partner_id
WHERE g.customer_id = $1 AND grant_status(g.status, g.expires_at) = 'active'
ORDER BY g.id;

-- name: list_records
SELECT id, category, recorded_at, source, payload, ingested_at FROM records
WHERE customer_id = $1 AND category = $2 AND ($3::text IS NULL OR id < $3)
ORDER BY id DESC
LIMIT $4;

-- name: delete_records
WITH gone AS (
  DELETE FROM records WHERE customer_id = $1 AND category = ANY ($2::text[]) RETURNING 1
)
SELECT count(*) FROM gone;

-- name: partners_to_tell
-- Partners that ever held a grant covering an erased category, with those grants.
SELECT partner_id, array_agg(id ORDER BY id) AS grant_ids FROM grants
WHERE customer_id = $1 AND categories && $2::text[]
GROUP BY partner_id
ORDER BY partner_id;

-- name: invalidate_exports
UPDATE exports SET status = 'invalidated', invalidated_at = now()
WHERE customer_id = $1 AND status = 'ready';

-- name: destroy_audit_key
DELETE FROM customer_audit_keys WHERE customer_id = $1;

-- name: delete_imported_consents
DELETE FROM imported_consents WHERE customer_id = $1;

-- name: new_export_id
SELECT new_id('exp') AS id, now() AS now;

-- name: last_record_id
SELECT max(id) FROM records WHERE customer_id = $1;

-- name: export_records
-- Streamed through a server-side cursor, in a fixed order.
SELECT id, category, recorded_at, source, payload FROM records
WHERE customer_id = $1 AND id <= $2
ORDER BY id;

-- name: export_grants
SELECT g.id, g.partner_id, p.name AS partner_name, p.jurisdiction AS partner_jurisdiction,
       g.offer_id, g.offer_version, g.categories, g.purposes,
       grant_status(g.status, g.expires_at) AS status, g.granted_at, g.expires_at,
       g.updated_at, g.terms_hash, g.receipt, v.title, v.compensation_kind,
       v.compensation_amount, v.compensation_currency, g.compensated,
       ARRAY(SELECT r.receipt FROM grant_receipts r
             WHERE r.customer_id = g.customer_id AND r.grant_id = g.id ORDER BY r.seq)
         AS later_receipts
FROM grants g
JOIN partners p ON p.id = g.partner_id
JOIN offer_versions v ON v.offer_id = g.offer_id AND v.version = g.offer_version
WHERE g.customer_id = $1
ORDER BY g.id;

-- name: insert_export
INSERT INTO exports (id, customer_id, status, format, issuer, manifest, signature,
  record_count, consent_count, prefix_lines, last_record_id, created_at)
VALUES ($1, $2, 'ready', $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11)
RETURNING id, status, format, issuer, signature, record_count, consent_count, created_at,
          invalidated_at, prefix_lines, last_record_id, manifest;

-- name: get_export
SELECT id, status, format, issuer, signature, record_count, consent_count, created_at,
       invalidated_at, prefix_lines, last_record_id, manifest
FROM exports WHERE id = $1 AND customer_id = $2;

-- name: insert_import
-- The package is claimed first: a second import of it, into any account, violates
-- import_claims_pkey (ExportAlreadyImported) and rolls the whole import back.
WITH claim AS (
  INSERT INTO import_claims (issuer, export_id, customer_id, import_id)
  VALUES ($2, $3, $1, new_id('imp'))
  RETURNING import_id
)
INSERT INTO imports (id, customer_id, issuer, export_id, manifest, record_count, consent_count)
SELECT import_id, $1, $2, $3, $4::jsonb, $5, $6 FROM claim
RETURNING id, imported_at;

-- name: insert_records
-- ::json, as ingestion stores it: the exact text, never jsonb's rewrite of numbers and keys.
INSERT INTO records (customer_id, category, recorded_at, source, payload, h3_cell, measure)
SELECT $1, t.category, t.recorded_at, t.source, t.payload::json, t.h3_cell, t.measure
FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
  AS t (category, recorded_at, source, payload, h3_cell, measure);

-- name: insert_imported_consent
INSERT INTO imported_consents (customer_id, import_id, former_grant_id, controller_id,
  controller_name, categories, purposes, former_status, granted_at, expires_at, receipt)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11);

-- name: list_imported_consents
SELECT c.id, c.former_grant_id, c.controller_id, c.controller_name, c.categories, c.purposes,
       c.former_status, c.granted_at, c.expires_at, c.status, i.issuer AS former_operator,
       c.created_at
FROM imported_consents c JOIN imports i ON i.id = c.import_id
WHERE c.customer_id = $1 AND ($2::text IS NULL OR c.id < $2)
ORDER BY c.id DESC
LIMIT $3;

-- name: delete_imports
-- With their claims: a closed account's package may be imported again.
WITH unclaimed AS (DELETE FROM import_claims WHERE customer_id = $1)
DELETE FROM imports WHERE customer_id = $1;

-- name: list_signing_keys
-- The active key first, then retired ones, newest first.
SELECT kid, public_jwk, status, created_at, retired_at
FROM signing_keys
ORDER BY status = 'active' DESC, created_at DESC, kid;

-- name: register_first_key
-- The first key of an empty registry; a concurrent first start inserts nothing.
INSERT INTO signing_keys (kid, public_jwk, status)
SELECT $1, $2::jsonb, 'active'
WHERE NOT EXISTS (SELECT FROM signing_keys)
ON CONFLICT DO NOTHING;

-- name: lock_registry
SELECT pg_advisory_xact_lock(727402047);

-- name: retire_active_key
UPDATE signing_keys SET status = 'retired', retired_at = now()
WHERE status = 'active'
RETURNING kid;

-- name: insert_active_key
INSERT INTO signing_keys (kid, public_jwk, status) VALUES ($1, $2::jsonb, 'active');

-- name: latest_signatures
-- One signature of each kind the database holds (the newest), to tell which key made them.
SELECT (SELECT receipt FROM grants ORDER BY id DESC LIMIT 1) AS receipt,
       (SELECT signature FROM exports ORDER BY id DESC LIMIT 1) AS export_signature,
       (SELECT note FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1) AS checkpoint;

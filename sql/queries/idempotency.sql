-- Queries of the Idempotency-Key store.

-- name: begin
-- Claims the key for this request; returns a row only when this call created it.
INSERT INTO idempotency_keys (principal, key, request_hash, locked_until)
VALUES ($1, $2, $3, now() + interval '60 seconds')
ON CONFLICT (principal, key) DO NOTHING
RETURNING key;

-- name: get
SELECT request_hash, response_status, response_body, locked_until > now() AS locked
FROM idempotency_keys WHERE principal = $1 AND key = $2;

-- name: take_over
-- A request that crashed mid-way leaves a stale lock; a retry may take it over.
UPDATE idempotency_keys SET locked_until = now() + interval '60 seconds'
WHERE principal = $1 AND key = $2 AND response_status IS NULL AND locked_until <= now()
RETURNING key;

-- name: finish
UPDATE idempotency_keys SET response_status = $3, response_body = $4, locked_until = NULL
WHERE principal = $1 AND key = $2;

-- name: release
DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND response_status IS NULL;

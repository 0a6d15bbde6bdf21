-- Queries of the Idempotency-Key store. A key's row is its first answer: it is written in the
-- same transaction as the request's effect, so it exists exactly when that effect committed.

-- name: get
SELECT request_hash, response_status, response_body
FROM idempotency_keys WHERE principal = $1 AND key = $2;

-- name: record
-- The answer, inside the request's own transaction. A concurrent attempt with the same key
-- waits here for the first to end; it returns no row when the first committed (and then
-- rolls its own effect back).
INSERT INTO idempotency_keys (principal, key, request_hash, response_status, response_body)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (principal, key) DO NOTHING
RETURNING key;

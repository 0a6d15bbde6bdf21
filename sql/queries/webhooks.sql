-- Queries of partner webhooks: endpoints, events, deliveries and their attempts. An endpoint
-- whose partner_id is NULL is the operator's (`IS NOT DISTINCT FROM` serves both owners).

-- name: record_event
-- One event for the partner and a delivery to each endpoint subscribed to its type; no
-- endpoint, no rows (nothing to deliver, nothing stored).
WITH endpoints AS (
  SELECT id FROM webhook_endpoints
  WHERE partner_id = $1 AND deleted_at IS NULL AND $2 = ANY (events)
), event AS (
  INSERT INTO webhook_events (partner_id, type, data)
  SELECT $1, $2, $3::jsonb WHERE EXISTS (SELECT 1 FROM endpoints)
  RETURNING id
)
INSERT INTO webhook_deliveries (event_id, endpoint_id, next_attempt_at)
SELECT event.id, endpoints.id, now() FROM event, endpoints
RETURNING id;

-- name: record_operator_events
-- Events for the operator's own endpoints (no partner), one per element of $2; no endpoint
-- subscribed, nothing stored.
WITH endpoints AS (
  SELECT id FROM webhook_endpoints
  WHERE partner_id IS NULL AND deleted_at IS NULL AND $1 = ANY (events)
), event AS (
  INSERT INTO webhook_events (partner_id, type, data)
  SELECT NULL, $1, d FROM unnest($2::jsonb[]) AS d WHERE EXISTS (SELECT 1 FROM endpoints)
  RETURNING id
)
INSERT INTO webhook_deliveries (event_id, endpoint_id, next_attempt_at)
SELECT event.id, endpoints.id, now() FROM event, endpoints
RETURNING id;

-- name: insert_endpoint
INSERT INTO webhook_endpoints (partner_id, url, events, secret) VALUES ($1, $2, $3, $4)
RETURNING id, partner_id, url, events, created_at;

-- name: list_endpoints
SELECT id, partner_id, url, events, created_at FROM webhook_endpoints
WHERE partner_id IS NOT DISTINCT FROM $1 AND deleted_at IS NULL
  AND ($2::text IS NULL OR id < $2)
ORDER BY id DESC
LIMIT $3;

-- name: get_endpoint
SELECT id, partner_id, url, events, created_at FROM webhook_endpoints
WHERE id = $1 AND partner_id IS NOT DISTINCT FROM $2 AND deleted_at IS NULL;

-- name: rotate_endpoint_secret
-- The new secret signs from now on; the one it replaces keeps signing beside it until
-- `$4` (the overlap), so the partner's receiver can switch without dropping a delivery.
UPDATE webhook_endpoints
SET previous_secret = secret, previous_secret_expires_at = now() + $4 * interval '1 second',
    secret = $3
WHERE id = $1 AND partner_id = $2 AND deleted_at IS NULL
RETURNING id, partner_id, url, events, created_at, previous_secret_expires_at;

-- name: delete_endpoint
UPDATE webhook_endpoints SET deleted_at = now()
WHERE id = $1 AND partner_id IS NOT DISTINCT FROM $2 AND deleted_at IS NULL
RETURNING id;

-- name: list_deliveries
SELECT d.id, d.event_id, e.type AS event_type, d.status, d.attempts, d.last_status_code,
       d.next_attempt_at, d.created_at, d.updated_at,
       coalesce((SELECT json_agg(json_build_object(
                   'attempt', a.attempt, 'at', a.at, 'status_code', a.status_code,
                   'error', a.error, 'duration_ms', a.duration_ms) ORDER BY a.attempt)
                 FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]')::text AS log
FROM webhook_deliveries d
JOIN webhook_events e ON e.id = d.event_id
WHERE d.endpoint_id = $1 AND ($2::text IS NULL OR d.id < $2)
ORDER BY d.id DESC
LIMIT $3;

-- name: delivery_to_send
-- What one attempt needs: the event, and the endpoint's URL and secret.
SELECT d.id, d.status, d.attempts, e.id AS event_id, e.type, e.created_at, e.data,
       w.url, w.secret,
       CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret END
         AS previous_secret,
       w.deleted_at IS NOT NULL AS endpoint_deleted
FROM webhook_deliveries d
JOIN webhook_events e ON e.id = d.event_id
JOIN webhook_endpoints w ON w.id = d.endpoint_id
WHERE d.id = $1;

-- name: lock_delivery
SELECT status, attempts FROM webhook_deliveries WHERE id = $1 FOR UPDATE;

-- name: insert_attempt
INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms)
VALUES ($1, $2, $3, $4, $5);

-- name: update_delivery
UPDATE webhook_deliveries
SET status = $2, attempts = $3, last_status_code = $4, next_attempt_at = now() + $5::interval,
    updated_at = now()
WHERE id = $1;

-- A webhook attempt's `error` is the partner-visible class of the failure, never the error's
-- text: the text of a connection error to an internal target is enough for a port scan. The
-- attempts logged before this are reduced to their class too.
UPDATE webhook_attempts
SET error = CASE
  WHEN error LIKE 'HTTP %' THEN 'http_status'
  WHEN error = 'endpoint deleted' THEN 'endpoint_deleted'
  WHEN error ILIKE '%timeout%' OR error ILIKE '%timed out%' THEN 'timeout'
  WHEN error ILIKE '%refused%' THEN 'connection_refused'
  WHEN error ILIKE '%ssl%' OR error ILIKE '%certificate%' THEN 'tls_error'
  ELSE 'connection_failed'
END
WHERE error IS NOT NULL;

ALTER TABLE webhook_attempts ADD CONSTRAINT webhook_attempts_error_is_a_class CHECK (
  error IN ('http_status', 'timeout', 'connection_refused', 'connection_failed', 'tls_error',
            'protocol_error', 'unresolvable', 'target_forbidden', 'invalid_url',
            'endpoint_deleted', 'internal_error')
);

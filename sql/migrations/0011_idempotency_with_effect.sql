-- An Idempotency-Key's row is now written with its answer, in the same transaction as the
-- request's effect: it exists exactly when the effect committed, and a crash can no longer
-- leave a key claimed without an answer. Rows of the earlier scheme that never got an answer
-- (an attempt that crashed) are not answers: a retry runs again.
DELETE FROM idempotency_keys WHERE response_status IS NULL;
ALTER TABLE idempotency_keys
  ALTER COLUMN response_status SET NOT NULL,
  ALTER COLUMN response_body SET NOT NULL,
  DROP COLUMN locked_until;

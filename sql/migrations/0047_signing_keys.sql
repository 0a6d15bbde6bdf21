-- The service's signing keys over their life. One is active: it signs consent receipts,
-- export manifests and audit checkpoints. A rotated-out key is retired, never deleted: its
-- public half stays published (JWKS, /v1/audit/keys), so whatever it signed keeps verifying.
-- Private keys never enter the database; the active one lives in SIGNING_KEY_FILE.
CREATE TABLE signing_keys (
  kid        text PRIMARY KEY,
  public_jwk jsonb NOT NULL,
  status     text NOT NULL CHECK (status IN ('active', 'retired')),
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz,
  CHECK ((status = 'retired') = (retired_at IS NOT NULL))
);
-- At most one active key: two rotations at once cannot both win.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE status = 'active';

-- Webhook secrets rotate with an overlap: after a rotation deliveries carry a signature with
-- the new secret and one with the previous secret until `previous_secret_expires_at`, so a
-- partner can switch its receiver over without dropping a delivery.
ALTER TABLE webhook_endpoints
  ADD COLUMN previous_secret text,
  ADD COLUMN previous_secret_expires_at timestamptz,
  ADD CONSTRAINT webhook_endpoints_previous_secret_expires
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL));

-- Consent receipts worthy of the name (Kantara CR 1.1 / ISO/IEC TS 27560).

-- A partner's controller profile, as its receipts state it: contact, address, email, phone,
-- privacy policy URL and how long it keeps data after access ends. Validated at onboarding;
-- null for a partner created before it existed.
ALTER TABLE partners ADD COLUMN profile jsonb;

-- Every signed receipt of a grant after the acceptance's (which is grants.receipt, index 0):
-- one per state change (paused, resumed, revoked, expired), each naming its event and the
-- state it leaves (27560 event_type / event_state), and the SHA-256 of the receipt before it,
-- so the chain cannot be cut or reordered unnoticed. History: rows are never changed.
CREATE TABLE grant_receipts (
  grant_id      text NOT NULL REFERENCES grants (id),
  seq           integer NOT NULL CHECK (seq >= 1),
  event_type    text NOT NULL,
  event_state   text NOT NULL,
  previous_hash text NOT NULL,
  receipt       text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (grant_id, seq)
);
CREATE TRIGGER grant_receipts_immutable BEFORE UPDATE OR DELETE ON grant_receipts
  FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Signed receipts (compact JWS, base64url: about 4 KB each) are stored out of line without a
-- compression attempt: pglz never reaches its 25% threshold on base64 text, so every
-- acceptance paid for a compression that was thrown away (issue 17). Only new rows change.
ALTER TABLE grants ALTER COLUMN receipt SET STORAGE EXTERNAL;
ALTER TABLE grant_receipts ALTER COLUMN receipt SET STORAGE EXTERNAL;

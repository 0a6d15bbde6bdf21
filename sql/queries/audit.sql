-- Queries of the audit log writer.

-- name: customer_audit_key
SELECT secret FROM customer_audit_keys WHERE customer_id = $1;

-- name: create_customer_audit_key
INSERT INTO customer_audit_keys (customer_id, secret) VALUES ($1, $2)
ON CONFLICT (customer_id) DO NOTHING;

-- name: append
INSERT INTO audit_entries (kind, at, jurisdictions, partner_id, subject, category, outcome, entry)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

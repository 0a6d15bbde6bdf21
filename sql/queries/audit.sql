-- Queries of the audit log writer.

-- name: customer_audit_key
SELECT secret FROM customer_audit_keys WHERE customer_id = $1;

-- name: create_customer_audit_key
INSERT INTO customer_audit_keys (customer_id, secret) VALUES ($1, $2)
ON CONFLICT (customer_id) DO NOTHING;

-- name: append
-- One entry (the columns of ledger.audit.entry_row), through the log's one writer.
SELECT append_audit_entries(ARRAY[$1::text], ARRAY[$2::timestamptz],
                            ARRAY[array_to_json($3::text[])::text], ARRAY[$4::text],
                            ARRAY[$5::text], ARRAY[$6::text], ARRAY[$7::text], ARRAY[$8::text]);

-- Operational gauges read at each /metrics scrape: each is one indexed or small-table read.

-- name: job_queue
-- Jobs waiting or running by kind, and how long the oldest runnable one has waited.
SELECT entrypoint,
       count(*) AS depth,
       coalesce(extract(epoch FROM now() - min(execute_after)
                FILTER (WHERE status = 'queued' AND execute_after <= now())), 0)::float8
         AS oldest_age_seconds
FROM pgqueuer
WHERE status IN ('queued', 'picked')
GROUP BY entrypoint
ORDER BY entrypoint;

-- name: audit_unsealed
-- Entries after the sealer's position, in its (txid, id) order: a range scan of the index
-- audit_entries_by_txid, however long the log.
SELECT count(*) AS unsealed,
       coalesce(extract(epoch FROM now() - min(e.at)), 0)::float8 AS lag_seconds
FROM audit_entries e, audit_sealer_state s
WHERE (e.txid, e.id) > (s.last_txid, s.last_entry_id);

-- name: payouts
SELECT status, count(*) AS count FROM payouts GROUP BY status ORDER BY status;

-- name: webhooks_failed
SELECT count(*) AS count FROM webhook_deliveries WHERE status = 'failed';

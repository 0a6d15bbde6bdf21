-- What a customer has seen: marking the feed read up to a notification sets `read_at` on it
-- and every earlier one still unread; the feed and its count show the rest as new.
ALTER TABLE notifications ADD COLUMN read_at timestamptz;
CREATE INDEX notifications_unread ON notifications (customer_id, id) WHERE read_at IS NULL;

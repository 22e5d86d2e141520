-- Sender pool (issue 16): the number (or Messaging Service) an SMS delivery goes out
-- from, chosen when it is first claimed and kept for its retries; a resident's later
-- messages of the same alert (follow-ups, waves, the closing message) reuse it, so the
-- resident's replies thread. NULL for calls and for deliveries from before the pool.
-- Per-sender token buckets are rows of rate_buckets named 'sms:<sender>'.
ALTER TABLE deliveries ADD COLUMN sender text;

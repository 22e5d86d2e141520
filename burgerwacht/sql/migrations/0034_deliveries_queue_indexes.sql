-- The queue's indexes for a national alert's two million queued deliveries (issue 16).
-- Measured with them queued (BENCHMARKS.md), each of these read every queued delivery:
--
-- * a claim of the voice channel (or of SMS behind a queue of calls): the queue index
--   ran in time order for both channels, so finding no call meant walking the two million
--   text messages (0.5 s a claim, every time a chunk's NOTIFY woke the voice loop). The
--   channel now leads, so a claim reads its own channel's entries in time order.
-- * the dispatch workers' maintenance pass, every second in every worker: dropping
--   queued deliveries past their expiry (~0.25 s, twice). Now a range of an index on the
--   expiry; every queued delivery of an alert shares one, so its entries deduplicate (a
--   few pages for a national alert).
--
-- Both are partial (queued rows only), so on a populated database they are built from the
-- few queued rows, after one pass over each partition under the lock.
DROP INDEX deliveries_queue;
CREATE INDEX deliveries_queue ON deliveries (channel, not_before, id) WHERE state = 'queued';
CREATE INDEX deliveries_expiry ON deliveries (expires_at) WHERE state = 'queued';

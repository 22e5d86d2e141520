-- Found by the benchmarks: deleting deliveries checked `fallback_of` by scanning the whole
-- table for every row (quadratic purges); and the provider id only needs indexing where
-- there is one (most queued rows have none yet).
CREATE INDEX deliveries_fallback_of ON deliveries (fallback_of) WHERE fallback_of IS NOT NULL;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_provider_sid_key;
CREATE UNIQUE INDEX deliveries_provider_sid ON deliveries (provider_sid) WHERE provider_sid IS NOT NULL;
-- retention purges by age
CREATE INDEX deliveries_created ON deliveries (created_at);

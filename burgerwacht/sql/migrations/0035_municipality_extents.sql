-- Which municipalities a target touches (the scope check when a draft is made, and each
-- widening wave) read every address inside the target: 2.1-5.3 s for a national polygon
-- at 10M addresses, before an AMBER Alert could be sent (issue 16). Each municipality's
-- extent, the box round its addresses, lets a large target be asked per municipality
-- instead: is one of its addresses inside both its box and the target (an index probe).
--
-- An extent only grows: an address added, or moved into the municipality, widens it; one
-- removed or moved out leaves it as it was. A box round more than the municipality's
-- addresses still holds them all, and the question is asked of the addresses themselves,
-- so the answer stays exact.
CREATE TABLE municipality_extents (
    municipality_code text PRIMARY KEY,
    extent box NOT NULL
);

-- The version of this migration's day (the functions file addresses.sql keeps the
-- current one). The triggers come first: creating them locks out writes to addresses
-- until this commits, so no address is written between the fill and the triggers.
CREATE OR REPLACE FUNCTION addresses_widen_extents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO municipality_extents AS e (municipality_code, extent)
    SELECT municipality_code, box(point(min(location[0]), min(location[1])), point(max(location[0]), max(location[1])))
    FROM placed WHERE municipality_code IS NOT NULL
    GROUP BY municipality_code ORDER BY municipality_code
    ON CONFLICT (municipality_code) DO UPDATE SET extent = bound_box(e.extent, EXCLUDED.extent)
        WHERE NOT e.extent @> EXCLUDED.extent;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER addresses_inserted_extents AFTER INSERT ON addresses
    REFERENCING NEW TABLE AS placed FOR EACH STATEMENT EXECUTE FUNCTION addresses_widen_extents();
CREATE OR REPLACE TRIGGER addresses_updated_extents AFTER UPDATE ON addresses
    REFERENCING NEW TABLE AS placed FOR EACH STATEMENT EXECUTE FUNCTION addresses_widen_extents();

INSERT INTO municipality_extents (municipality_code, extent)
SELECT municipality_code, box(point(min(location[0]), min(location[1])), point(max(location[0]), max(location[1])))
FROM addresses WHERE municipality_code IS NOT NULL
GROUP BY municipality_code;

-- statistics now, so the first national draft after this migration is planned on them
ANALYZE municipality_extents;

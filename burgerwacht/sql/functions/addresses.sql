-- Municipality extents (0035): the box round each municipality's addresses, widened by
-- every statement that adds or moves addresses (an import's upsert, its area pass). It
-- never shrinks: a larger box still holds every address, and the touched-municipality
-- check (alerts/store.py municipalities_in_target) asks of the addresses inside it.
CREATE OR REPLACE FUNCTION addresses_widen_extents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- in code order, so two imports at once lock the rows they share in the same order
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

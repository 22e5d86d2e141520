-- Participation coverage and the wijkagent role (issue 18).
--
-- area_figures: CBS "Kerncijfers wijken en buurten" (KWB) per gemeente, wijk and buurt,
-- loaded by `burgerwacht import-kwb`. Public figures; one row per area code (a new
-- import of the same code replaces it). NULL: CBS published no figure ("." or "x").
CREATE TABLE area_figures (
    code              text PRIMARY KEY CHECK (code ~ '^(GM[0-9]{4}|WK[0-9]{6}|BU[0-9]{8})$'),
    level             text NOT NULL CHECK (level IN ('gemeente', 'wijk', 'buurt')),
    name              text NOT NULL DEFAULT '',
    municipality_code text NOT NULL CHECK (municipality_code ~ '^GM[0-9]{4}$'),
    year              integer CHECK (year BETWEEN 1990 AND 2100),
    inhabitants       integer CHECK (inhabitants >= 0),
    households        integer CHECK (households >= 0),
    source            text NOT NULL DEFAULT 'kwb',
    imported_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX area_figures_municipality ON area_figures (municipality_code);
COMMENT ON TABLE area_figures IS 'CBS Kerncijfers wijken en buurten: inhabitants and households per area';

-- A wijkagent (police) is scoped to wijken (WK codes) of their municipality, not only
-- to municipalities; other roles have no wijken.
ALTER TABLE staff_users DROP CONSTRAINT staff_users_role_check;
ALTER TABLE staff_users
    ADD CONSTRAINT staff_users_role_check
        CHECK (role IN ('operator', 'analyst', 'fieldworker', 'admin', 'wijkagent')),
    ADD COLUMN wijken text[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT staff_users_wijken_check
        CHECK ((role = 'wijkagent') = (cardinality(wijken) > 0));
COMMENT ON COLUMN staff_users.wijken IS 'WK codes a wijkagent may act in (empty for other roles)';

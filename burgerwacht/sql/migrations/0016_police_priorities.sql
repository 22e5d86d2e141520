-- Theme priorities per municipality (issue 18): a weight per gebiedsscan theme, an
-- optional target (change in % against a baseline year, e.g. -10) and that baseline.
-- Themes without a row keep the default weight of burgerwacht/defaults/signals.toml.
-- Themes are configuration, so they are checked by the service, not by a foreign key.
CREATE TABLE municipality_priorities (
    municipality_code text NOT NULL CHECK (municipality_code ~ '^GM\d{4}$'),
    theme             text NOT NULL CHECK (theme ~ '^[a-z][a-z0-9_]{0,39}$'),
    position          integer NOT NULL CHECK (position >= 0),
    weight            double precision NOT NULL CHECK (weight >= 0 AND weight <= 10),
    target_change_pct double precision CHECK (target_change_pct >= -100 AND target_change_pct <= 1000),
    baseline_year     integer CHECK (baseline_year BETWEEN 2000 AND 2100),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        text NOT NULL,
    PRIMARY KEY (municipality_code, theme)
);


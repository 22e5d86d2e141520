-- Issue 17 (templates): alert templates with {placeholder} texts, per municipality or
-- national (municipality_code NULL: for every municipality, created by admins). The
-- texts are stored as written (placeholders and {{ }} escapes included); the service
-- checks them with the same limits as an alert's.

CREATE TABLE alert_templates (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    municipality_code  text CHECK (municipality_code ~ '^GM[0-9]{4}$'),  -- NULL: national
    level              text NOT NULL,
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 120),
    message            text NOT NULL CHECK (length(message) BETWEEN 1 AND 640),
    voice_message      text CHECK (length(voice_message) BETWEEN 1 AND 1500),
    channels           text[] NOT NULL,
    expires_in_minutes integer NOT NULL CHECK (expires_in_minutes > 0),
    radius_m           double precision CHECK (radius_m > 0),
    created_by         text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- one name per municipality (and one among the national ones), whatever its case
CREATE UNIQUE INDEX alert_templates_name ON alert_templates ((coalesce(municipality_code, '')), lower(name));

-- the template an alert was made from (kept when the template is deleted later: NULL)
ALTER TABLE alerts ADD COLUMN template_id bigint REFERENCES alert_templates (id) ON DELETE SET NULL;

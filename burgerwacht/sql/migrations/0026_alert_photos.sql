-- A photo per alert (issue 17): PUT /api/v1/alerts/{id}/photo on a draft. Only the
-- re-encoded JPEG is kept (burgerwacht/media/images.py: EXIF and GPS gone, longest side
-- at most 1280 px, at most 300 kB); the upload itself is never stored. Public at
-- /a/{token}/photo.jpg once the alert was sent; deleted public.page_days_after_close
-- days after the alert ended (job public-photo-purge), and with the alert.
CREATE TABLE alert_photos (
    alert_id bigint PRIMARY KEY REFERENCES alerts (id) ON DELETE CASCADE,
    data bytea NOT NULL CHECK (octet_length(data) BETWEEN 1 AND 300000),
    width integer NOT NULL CHECK (width BETWEEN 1 AND 1280),
    height integer NOT NULL CHECK (height BETWEEN 1 AND 1280),
    bytes integer NOT NULL CHECK (bytes = octet_length(data)),
    source_format text NOT NULL CHECK (source_format IN ('JPEG', 'PNG', 'WEBP')),
    alt text NOT NULL DEFAULT '' CHECK (length(alt) <= 300),
    etag text NOT NULL CHECK (etag ~ '^[0-9a-f]{16,64}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE alert_photos IS 'the re-encoded photo of an alert (no metadata); public once the alert was sent';
COMMENT ON COLUMN alert_photos.alt IS 'alt text on the public page; empty: the alert title is used';

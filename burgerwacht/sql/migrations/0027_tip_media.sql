-- Photos with tips (issue 17): the media of an inbound picture message (NumMedia,
-- MediaUrl0…9, MediaContentType0…9) and the photo of the public page's tip form, one
-- row per picture, n counting from 0 as Twilio's MediaUrl0. A picture message's media
-- are fetched after the webhook answered (tips/media.py): the row is 'pending' with the
-- provider's URL until a fetch stores the re-encoded JPEG ('stored'), refuses it
-- ('not_kept': a type other than JPEG/PNG/WebP, too large, not a readable photo, or a
-- URL off the provider's media host) or gives up after bounded retries ('failed').
-- source_url stays set until the media were deleted at the provider as well; 'erased'
-- rows (the tip was erased while that deletion was outstanding) only wait for it.
CREATE TABLE tip_media (
    tip_id bigint NOT NULL REFERENCES tips (id) ON DELETE CASCADE,
    n smallint NOT NULL CHECK (n BETWEEN 0 AND 9),
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'stored', 'not_kept', 'failed', 'erased')),
    source_url text CHECK (length(source_url) <= 2048),
    declared_type text CHECK (length(declared_type) <= 255),
    content_type text,
    data bytea,
    width integer CHECK (width > 0),
    height integer CHECK (height > 0),
    bytes integer CHECK (bytes >= 0),
    error text CHECK (length(error) <= 500),
    attempts smallint NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tip_id, n),
    CHECK ((status = 'stored') = (data IS NOT NULL)),
    CHECK (status <> 'pending' OR source_url IS NOT NULL)
);
COMMENT ON TABLE tip_media IS 'photos of tips (picture messages, the public page form); erased with the tip';
COMMENT ON COLUMN tip_media.source_url IS 'the provider''s media URL while it is still to be fetched or deleted there';
-- the fetch job's queue: media to fetch, or to delete at the provider
CREATE INDEX tip_media_due ON tip_media (next_attempt_at) WHERE source_url IS NOT NULL;

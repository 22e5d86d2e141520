-- Pictures sent with a keyword or a signal (AANMELDEN, VERWIJDER, … with a photo) become
-- no tip, so nothing keeps them; they are deleted at the provider without being fetched.
-- The deletion is queued here in PostgreSQL rather than in a process's memory, so a
-- restart or a failed DELETE does not leave a resident's picture at the provider: the
-- tips-media job retries with a doubling wait until tips.media_max_attempts.
CREATE TABLE provider_media_deletions (
    message_sid text NOT NULL CHECK (message_sid ~ '^[A-Za-z0-9]{2,64}$'),
    media_sid text NOT NULL CHECK (media_sid ~ '^[A-Za-z0-9]{2,64}$'),
    attempts smallint NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_sid, media_sid)
);
COMMENT ON TABLE provider_media_deletions IS 'media of picture messages that became no tip, still to be deleted at the provider';
CREATE INDEX provider_media_deletions_due ON provider_media_deletions (next_attempt_at);

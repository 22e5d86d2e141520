-- A public page per alert (issue 17): GET /a/{token}. The token is short (it goes in
-- the SMS), unguessable (10 base62 characters from `secrets`) and made at creation, so
-- the preview can count the link; it is shown as public_url once the alert was sent.
-- `link` says when the start SMS carries the link (auto | always | never).
ALTER TABLE alerts
    ADD COLUMN public_token text CHECK (public_token ~ '^[0-9A-Za-z]{8,32}$'),
    ADD COLUMN link text NOT NULL DEFAULT 'auto' CHECK (link IN ('auto', 'always', 'never'));
COMMENT ON COLUMN alerts.public_token IS 'the public page /a/{token}; null for alerts made before pages existed';
COMMENT ON COLUMN alerts.link IS 'when the start SMS carries the page link: auto, always, never';
CREATE UNIQUE INDEX alerts_public_token ON alerts (public_token) WHERE public_token IS NOT NULL;

-- Tips from the page's form arrive on channel 'web'.
ALTER TABLE tips DROP CONSTRAINT tips_channel_check;
ALTER TABLE tips ADD CONSTRAINT tips_channel_check CHECK (channel IN ('sms', 'voice', 'web'));

-- The page's tip form is rate-limited per client network (per hour) and per alert (per
-- minute): fixed windows, one row per bucket and window, purged by a job.
CREATE TABLE public_tip_rate (
    bucket text NOT NULL,
    window_start timestamptz NOT NULL,
    hits integer NOT NULL DEFAULT 1,
    PRIMARY KEY (bucket, window_start)
);

-- CAP (issue 20): an alert imported from a CAP message keeps where it came from, so the
-- export's <references> can name the source; and the sent of the alert's own CAP Alert
-- message is fixed at its first export (a draft exported before sending and the alert
-- exported after sending are one message: an Update's references must match it).
ALTER TABLE alerts
    ADD COLUMN cap_source_identifier text,
    ADD COLUMN cap_source_sender text,
    ADD COLUMN cap_source_sent timestamptz,
    ADD COLUMN cap_sent timestamptz;
COMMENT ON COLUMN alerts.cap_source_identifier IS 'identifier of the CAP message the alert was imported from';
COMMENT ON COLUMN alerts.cap_source_sender IS 'sender of the CAP message the alert was imported from';
COMMENT ON COLUMN alerts.cap_source_sent IS 'sent of the CAP message the alert was imported from';
COMMENT ON COLUMN alerts.cap_sent IS 'sent of the alert''s CAP Alert message, set once at its first export';

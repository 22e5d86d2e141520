-- Outcomes and effectiveness (issue 15): an alert is closed with an outcome (and an
-- optional short note, phone numbers masked); a tip can be marked as having led to the
-- outcome. Alerts closed before outcomes existed were closed with the old body, which
-- still means outcome 'other'.
ALTER TABLE alerts
    ADD COLUMN outcome text CHECK (outcome IN ('found_safe', 'found_other', 'arrested', 'not_found', 'false_alarm', 'other')),
    ADD COLUMN outcome_note text CHECK (char_length(outcome_note) <= 500);
COMMENT ON COLUMN alerts.outcome IS 'how the incident ended, set on close';
COMMENT ON COLUMN alerts.outcome_note IS 'operator''s short note on the outcome (phone numbers masked)';
UPDATE alerts SET outcome = 'other' WHERE status = 'closed';

ALTER TABLE tips ADD COLUMN led_to_outcome boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN tips.led_to_outcome IS 'the operator marked this tip as having led to the alert''s outcome';

-- the effectiveness figures read alerts by the month they were sent
CREATE INDEX alerts_sent_at ON alerts (sent_at) WHERE sent_at IS NOT NULL;

-- alerts-status-check looks up calls as well as SMS whose final status callback never
-- came (burgerwacht/alerts/jobs.py): its index covers every 'sent' delivery, of either
-- channel, in the order the job reads them.
CREATE INDEX deliveries_sent ON deliveries (updated_at) WHERE state = 'sent';
DROP INDEX deliveries_sent_sms;

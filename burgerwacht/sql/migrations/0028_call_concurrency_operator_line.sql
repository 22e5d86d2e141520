-- Voice concurrency (issue 16): a maximum of calls in progress (twilio.max_concurrent_calls)
-- beside calls_per_second, shared by every worker process. One row per alert call in
-- progress, from just before its create until its final status callback (completed,
-- busy, no-answer, failed, canceled); expires_at bounds a row whose callback was lost
-- (the call's ring timeout + time limit + a margin). Rows are taken and counted under an
-- advisory lock (alerts/store.py take_call_slot).
CREATE TABLE call_slots (
    delivery_id bigint PRIMARY KEY,
    attempt integer NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX call_slots_expires_at ON call_slots (expires_at);

-- The live line per operator (issue 17): a control-room number (E.164) per staff user;
-- a caller is put through to the operator who sent the alert first, then to the
-- municipality's control room (tips.control_room_numbers).
ALTER TABLE staff_users ADD COLUMN control_room_number text
    CHECK (control_room_number ~ '^\+[1-9][0-9]{6,14}$');
-- Who sent the alert (the send of the author; with two-person approval the request to
-- send is in approval.requested_by).
ALTER TABLE alerts ADD COLUMN sent_by bigint REFERENCES staff_users (id);

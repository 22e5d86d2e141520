-- Exercise mode and two-person approval (issue 17).

-- An exercise reaches only residents flagged as exercise participants; every text says
-- OEFENING; its CAP status is Exercise; it is in no statistic.
ALTER TABLE alerts
    ADD COLUMN mode text NOT NULL DEFAULT 'live' CHECK (mode IN ('live', 'exercise')),
    -- {requested_by, requested_at, preview[, approved_by, approved_at]}: the send request
    -- of a level that needs a second person, its preview frozen
    ADD COLUMN approval jsonb,
    -- the last rejection: {rejected_by, rejected_at, reason}
    ADD COLUMN rejection jsonb;

ALTER TABLE alerts DROP CONSTRAINT alerts_status_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_status_check
    CHECK (status IN ('draft', 'awaiting_approval', 'sending', 'active', 'closed', 'cancelled', 'expired'));

-- an alert waiting for approval keeps its reference
DROP INDEX alerts_live_reference;
CREATE UNIQUE INDEX alerts_live_reference ON alerts (reference)
    WHERE status IN ('draft', 'awaiting_approval', 'sending', 'active');

-- the approval queue
CREATE INDEX alerts_awaiting_approval ON alerts (id) WHERE status = 'awaiting_approval';

ALTER TABLE residents ADD COLUMN exercise boolean NOT NULL DEFAULT false;
CREATE INDEX residents_exercise ON residents (id) WHERE exercise;

-- Enrolment code limits that an attacker cannot step around (issue 20):
-- * the per-IP limit counts the client's network, so `ip` now holds that network
--   (203.0.113.0/24, 2001:db8:1:2::/64), not an exact address;
-- * a known active resident's code request does not use the daily budget, so an
--   attacker who spends it cannot lock out people who already proved their number.
COMMENT ON COLUMN code_requests.ip IS
    'client network as the per-IP limit counts it (IPv4 /http.ipv4_limit_prefix, IPv6 /64)';
ALTER TABLE code_requests ADD COLUMN budget boolean NOT NULL DEFAULT true;
COMMENT ON COLUMN code_requests.budget IS
    'counted against enrolment.codes_per_day (false: the number belongs to an active resident)';

-- Messages held back by an open circuit breaker (status 'held'). A held
-- message has no next attempt and no lease, so it is in neither
-- messages_due nor messages_leases and DueMessages never reads it: it
-- waits for WakeHeld, not for a time. Millions may wait behind a few
-- endpoints.

-- HeldEndpoints, a loose index scan: from each endpoint found, one descent
-- to the least endpoint after it (... AND endpoint_id > ? ORDER BY
-- endpoint_id LIMIT 1), never a walk over the held messages. WakeHeld's
-- batch of an endpoint after a cursor, one range ((endpoint_id, id) > (?,
-- ?) AND endpoint_id <= ? ORDER BY endpoint_id, id LIMIT ?). Holds only
-- held messages. The predicate is written so that no other index can
-- serve those queries, which repeat it word for word: as status = 'held',
-- messages_status could, and statistics taken while no message was held
-- make the planner read all the held messages from it and sort them.
CREATE INDEX messages_held ON messages (endpoint_id, id) WHERE (status = 'held') IS TRUE;

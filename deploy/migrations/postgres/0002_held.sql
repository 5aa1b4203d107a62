-- Messages held back by an open circuit breaker (status 'held'). A held
-- message has no next attempt and no lease, so it is in neither
-- messages_due nor messages_leases and DueMessages never reads it: it
-- waits for WakeHeld, not for a time. Millions may wait behind a few
-- endpoints.

-- HeldEndpoints, a loose index scan: from each endpoint found, one descent
-- to the least endpoint after it (MIN(endpoint_id) ... AND endpoint_id >
-- ?), never a walk over the held messages. WakeHeld's batch of an endpoint
-- after a cursor, one range ((endpoint_id, id) > (?, ?) AND endpoint_id <=
-- ? ORDER BY endpoint_id, id LIMIT ?). ListMessages of an endpoint by
-- status held. Every query that reads it writes status = 'held' as a
-- literal, so that both databases may use it. Holds only held messages.
CREATE INDEX messages_held ON messages (endpoint_id, id) WHERE status = 'held';

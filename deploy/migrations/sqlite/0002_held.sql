-- Messages held back by an open circuit breaker (status 'held'); the same
-- index as the PostgreSQL one. A held message has no next attempt and no
-- lease, so it is in neither messages_due nor messages_leases and
-- DueMessages never reads it: it waits for WakeHeld, not for a time.
-- Millions may wait behind a few endpoints.

-- HeldEndpoints, a loose index scan: from each endpoint found, one descent
-- to the least endpoint after it (... AND endpoint_id > ? ORDER BY
-- endpoint_id LIMIT 1), never a walk over the held messages. WakeHeld's
-- batch of an endpoint after a cursor, one range ((endpoint_id, id) > (?,
-- ?) AND endpoint_id <= ? ORDER BY endpoint_id, id LIMIT ?). Holds only
-- held messages. The predicate is written so that no other index can
-- serve those queries, which repeat it word for word (see the PostgreSQL
-- schema). Created after every other index of messages, it is the one
-- SQLite takes among equals (see 0001), but only a query that repeats its
-- predicate can read it, so it changes no other query's plan.
CREATE INDEX messages_held ON messages (endpoint_id, id) WHERE (status = 'held') IS TRUE;

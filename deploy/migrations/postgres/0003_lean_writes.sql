-- Fewer writes per event and per delivery.
--
-- No foreign keys from messages to events and from attempts to messages.
-- Each checked every insert: a look-up of the parent row and a lock on it,
-- with a WAL record for the lock, for every message and every attempt.
-- shiphook never deletes an event or a message (retention empties an
-- event's payload and deletes attempts), so there was nothing for the
-- cascade to do; the delivery log already refers to endpoints and partners
-- by id alone.
ALTER TABLE messages DROP CONSTRAINT messages_event_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_message_id_fkey;

-- An event's source id and idempotency key are unique among the events
-- that have one. Most events lack one or both, and a unique constraint
-- indexes those NULLs too: an entry in each index for every event, on its
-- insert and again when fan-out marks it, though no query looks for NULL.
-- InsertEvents' ON CONFLICT DO NOTHING takes every unique index as an
-- arbiter, partial ones included, and its look-ups (source_id = ?) imply
-- the predicate.
CREATE UNIQUE INDEX events_source_id ON events (source_id) WHERE source_id IS NOT NULL;
ALTER TABLE events DROP CONSTRAINT events_source_id_key;
CREATE UNIQUE INDEX events_idempotency_key ON events (idempotency_key) WHERE idempotency_key IS NOT NULL;
ALTER TABLE events DROP CONSTRAINT events_idempotency_key_key;

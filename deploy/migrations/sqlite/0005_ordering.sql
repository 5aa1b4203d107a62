-- Ordered delivery per (endpoint, shipment): an endpoint with the option
-- ordering "shipment" gets the messages of one shipment one at a time, in
-- the order their events were accepted. The order is kept here, never only
-- in Redis.

-- A message's number in its queue (1, 2, 3… per endpoint and shipment),
-- delivered as "sequence"; NULL for a message of an unordered endpoint.
ALTER TABLE messages ADD COLUMN sequence BIGINT;

-- One queue per (endpoint, shipment) that ever had an ordered message.
-- last_sequence is the last number given out; head_sequence the number of
-- the one message that may be attempted now (last_sequence + 1 when the
-- queue is empty). FanOut numbers a message by upserting this row, which
-- row-locks it for the rest of its transaction; RecordEnd and
-- DiscardMessage move the head under the same lock.
CREATE TABLE ordered_queues (
    endpoint_id   TEXT NOT NULL,
    shipment_id   TEXT NOT NULL,
    last_sequence BIGINT NOT NULL,
    head_sequence BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, shipment_id)
);

-- The message of a queue with a given number (endpoint_id = ? AND
-- shipment_id = ? AND sequence = ?), which a moved head makes pending;
-- unique, so that no number is given twice. Holds only ordered messages.
CREATE UNIQUE INDEX messages_ordered ON messages (endpoint_id, shipment_id, sequence) WHERE sequence IS NOT NULL;

-- FanOut's check, before it numbers, for an event of the same shipment
-- accepted earlier and not yet fanned out (shipment_id = ? AND
-- (fanned_out_at IS NULL) IS TRUE AND (created_at, id) < the event's);
-- holds only the few events still waiting for fan-out. The predicate is
-- written so that only a query that repeats it word for word can read
-- it, and so that such a query cannot read events_unfanned instead: with
-- statistics taken while few events waited, the planner would otherwise
-- read every waiting event through events_unfanned during a burst.
CREATE INDEX events_unfanned_shipment ON events (shipment_id, created_at, id) WHERE (fanned_out_at IS NULL) IS TRUE;

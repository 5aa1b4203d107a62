-- The DCSA feed: which events a partner finds at GET /dcsa/tnt/v2/events.
--
-- One row per event that has a DCSA Track & Trace 2.2 form and per partner
-- among its parties, written when the event is stored (or resolved), with
-- what the DCSA query parameters filter on; the DCSA event itself is
-- rendered from the event when it is read.
CREATE TABLE dcsa_feed (
    partner_id     TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    -- When the row was written: the feed's order, oldest first, which a
    -- poller's cursor follows.
    added_at       BIGINT NOT NULL,
    -- TRANSPORT, EQUIPMENT or SHIPMENT, and its event type code.
    event_type     TEXT   NOT NULL,
    type_code      TEXT   NOT NULL,
    -- The DCSA event's eventCreatedDateTime.
    event_created  BIGINT NOT NULL,
    -- carrierBookingReference, transportDocumentReference and an
    -- EQUIPMENT event's equipmentReference; '' when none.
    booking        TEXT   NOT NULL DEFAULT '',
    bill_of_lading TEXT   NOT NULL DEFAULT '',
    equipment      TEXT   NOT NULL DEFAULT '',
    -- An event is in a partner's feed once: written again (a retry, a
    -- resolution), it is left as it is (ON CONFLICT DO NOTHING).
    PRIMARY KEY (partner_id, event_id)
);

-- ListDCSAFeed: a partner's rows in feed order from its cursor
-- (partner_id = ? AND (added_at, event_id) > (?, ?) ORDER BY added_at,
-- event_id LIMIT ?); the DCSA filters are checked on the rows it reads.
CREATE INDEX dcsa_feed_partner ON dcsa_feed (partner_id, added_at, event_id);

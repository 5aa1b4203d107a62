-- The shipment registry, and events kept unresolved; the same tables and
-- indexes as the PostgreSQL schema (0004_shipments.sql there).
--
-- A registered shipment: its attributes, its parties (the JSON of
-- []subscriptions.Party) and its references (the JSON of
-- subscriptions.References, as PUT gave them). Events that name it, by id
-- or by a reference, take its attributes and parties.
CREATE TABLE shipments (
    id          TEXT NOT NULL PRIMARY KEY,
    mode        TEXT   NOT NULL DEFAULT '',
    origin      TEXT   NOT NULL DEFAULT '',
    destination TEXT   NOT NULL DEFAULT '',
    carrier     TEXT   NOT NULL DEFAULT '',
    refs        TEXT   NOT NULL DEFAULT '{}',
    parties     TEXT   NOT NULL DEFAULT '[]',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- One row per reference of a registered shipment. The primary key is the
-- look-up: resolving a reference (value = ? AND kind = ?) and finding a
-- shipment by a reference of any kind (value = ?) are one descent of it,
-- whatever the number of shipments.
CREATE TABLE shipment_references (
    value       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    shipment_id TEXT NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    PRIMARY KEY (value, kind, shipment_id)
);
-- PutShipment replaces a shipment's references (shipment_id = ?).
CREATE INDEX shipment_references_shipment ON shipment_references (shipment_id);

-- Why an event named by references alone matched no registered shipment,
-- or several (the JSON of dispatcher.Unresolved); NULL once resolved, and
-- for every event given with a shipment id.
ALTER TABLE events ADD COLUMN unresolved TEXT;
-- The reconciler's batch of unresolved events (unresolved IS NOT NULL AND
-- id > ? ORDER BY id), and ListEvents of them (... ORDER BY id DESC).
-- Holds only unresolved events.
CREATE INDEX events_unresolved ON events (id) WHERE unresolved IS NOT NULL;

-- Sources: systems that post their own payloads to
-- POST /v1/sources/{id}/events, and the items of those payloads, each kept
-- with its original so that a fixed mapping can be replayed over it.

CREATE TABLE sources (
    id         TEXT PRIMARY KEY,
    name       TEXT   NOT NULL DEFAULT '',
    -- shiphook, dcsa-tnt-2.2 or mapped.
    format     TEXT   NOT NULL,
    -- A mapped source's mapping, {"program", "codes"}; '' for the others.
    mapping    TEXT   NOT NULL DEFAULT '',
    -- A DCSA source's secret, sealed by the keyring (bound to the source
    -- and the field); '' for the others.
    secret     TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE source_items (
    id          TEXT PRIMARY KEY,
    source_id   TEXT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    received_at BIGINT NOT NULL,
    -- accepted, ignored, rejected, unmapped or unresolved.
    status      TEXT   NOT NULL,
    -- {"code", "message", "field"} of a rejected or unmapped item, else NULL.
    error       TEXT,
    -- The element exactly as the source sent it.
    original    TEXT   NOT NULL,
    -- The ids of the events it became, a JSON array.
    event_ids   TEXT   NOT NULL DEFAULT '[]'
);

-- A source's recent items (ListSourceItems: source_id = ? AND id < ?
-- ORDER BY id DESC), and the cascade from sources.
CREATE INDEX source_items_source ON source_items (source_id, id);
-- The same, of one status (?status=unmapped).
CREATE INDEX source_items_status ON source_items (source_id, status, id);

-- An ingest key may be bound to one source: it then posts there only.
ALTER TABLE api_keys ADD COLUMN source_id TEXT REFERENCES sources (id) ON DELETE CASCADE;
CREATE INDEX api_keys_source ON api_keys (source_id) WHERE source_id IS NOT NULL;

-- The source item an event came from; NULL for an event posted as it is.
ALTER TABLE events ADD COLUMN source_item_id TEXT;

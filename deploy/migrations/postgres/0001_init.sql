-- The initial schema.
--
-- Times are BIGINT microseconds since the Unix epoch, UTC.
--
-- JSON values (event data, shipment, parties, endpoint event_types, filter
-- and options, attempt response headers) are TEXT, not JSONB: no query
-- looks inside them (matching happens in memory; the one value a query
-- needs, the shipment's id, has a column of its own), and TEXT keeps the
-- payload a source posted byte for byte, so the data partners receive
-- keeps its key order, spacing and number formatting. JSONB would rewrite
-- all three and parse every payload on ingest. Ad-hoc queries can still
-- cast: data::jsonb.
--
-- Ids compare and sort with COLLATE "C" (byte order), whatever the database
-- collation, so that cursor pagination over time-sortable ids is stable.

CREATE TABLE partners (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT   NOT NULL,
    access     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE endpoints (
    id                         TEXT COLLATE "C" PRIMARY KEY,
    partner_id                 TEXT COLLATE "C" NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    url                        TEXT    NOT NULL,
    description                TEXT    NOT NULL DEFAULT '',
    event_types                TEXT    NOT NULL DEFAULT '[]',
    filter                     TEXT    NOT NULL DEFAULT '{}',
    disabled                   BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason            TEXT    NOT NULL DEFAULT '',
    secret                     TEXT    NOT NULL,
    previous_secret            TEXT    NOT NULL DEFAULT '',
    previous_secret_expires_at BIGINT,
    -- subscriptions.Options: timeout, rate limit, concurrency, headers and
    -- circuit breaker settings, as one JSON document.
    options                    TEXT    NOT NULL DEFAULT '{}',
    -- Set by the first failed attempt after a success, cleared by the next
    -- success; NULL while the endpoint is healthy.
    failing_since              BIGINT,
    created_at                 BIGINT  NOT NULL,
    updated_at                 BIGINT  NOT NULL
);

-- ListEndpoints and PartnerEndpoints (partner_id = ? ORDER BY id),
-- AllEndpoints (join on partner_id), and the cascade from partners.
CREATE INDEX endpoints_partner ON endpoints (partner_id, id);

CREATE TABLE api_keys (
    id         TEXT COLLATE "C" PRIMARY KEY,
    role       TEXT   NOT NULL,
    partner_id TEXT COLLATE "C" REFERENCES partners (id) ON DELETE CASCADE,
    name       TEXT   NOT NULL DEFAULT '',
    -- UNIQUE: APIKeyByHash, on every authenticated request.
    hash       TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- CountAPIKeys (role = ?).
CREATE INDEX api_keys_role ON api_keys (role);
-- The cascade from partners; keys of no partner (admin, ingest) are left out.
CREATE INDEX api_keys_partner ON api_keys (partner_id) WHERE partner_id IS NOT NULL;

CREATE TABLE events (
    id              TEXT COLLATE "C" PRIMARY KEY,
    -- NULL when the event came without one; NULLs never conflict.
    -- UNIQUE: InsertEvents' ON CONFLICT DO NOTHING and its look-up of the
    -- first event with the same key.
    source_id       TEXT UNIQUE,
    idempotency_key TEXT UNIQUE,
    -- Byte order, so that ListEvents' prefix range (type > 'a.b.' AND
    -- type < 'a.b/') holds exactly the types that start with 'a.b.'.
    type            TEXT COLLATE "C" NOT NULL,
    occurred_at     BIGINT NOT NULL,
    shipment        TEXT   NOT NULL,
    -- shipment's id, copied out of the JSON for ListEvents.
    shipment_id     TEXT   NOT NULL,
    parties         TEXT   NOT NULL,
    data            TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    fanned_out_at   BIGINT,
    -- Set when retention emptied data to '{}'; the rest of the event stays.
    purged_at       BIGINT
);

-- UnfannedEvents (fanned_out_at IS NULL AND created_at < ? ORDER BY
-- created_at); holds only the few events still waiting for fan-out.
CREATE INDEX events_unfanned ON events (created_at, id) WHERE fanned_out_at IS NULL;
-- ListEvents of a type, newest first (type = ? AND id < ? ORDER BY id
-- DESC), and of a type family (type > 'a.b.' AND type < 'a.b/', a range
-- where LIKE 'a.b.%' could not use the index in both databases).
CREATE INDEX events_type ON events (type, id DESC);
-- ListEvents of a shipment, newest first.
CREATE INDEX events_shipment ON events (shipment_id, id DESC);
-- PurgePayloads (purged_at IS NULL AND created_at < ? ORDER BY created_at
-- LIMIT ?): the oldest payloads still kept. Purged events leave it.
CREATE INDEX events_retention ON events (created_at) WHERE purged_at IS NULL;

-- No foreign key to endpoints or partners: the delivery log outlives a
-- deleted endpoint or partner. Messages go with their event.
CREATE TABLE messages (
    id              TEXT COLLATE "C" PRIMARY KEY,
    event_id        TEXT COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id     TEXT COLLATE "C" NOT NULL,
    partner_id      TEXT COLLATE "C" NOT NULL,
    event_type      TEXT    NOT NULL,
    shipment_id     TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_until     BIGINT,
    -- The status code and error class of the last attempt; 0 and '' before
    -- the first.
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error_class TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    -- FanOut's ON CONFLICT (event_id, endpoint_id) and its read of the
    -- event's pending messages (event_id = ?).
    UNIQUE (event_id, endpoint_id)
);

-- ListMessages, newest first (... = ? AND id < ? ORDER BY id DESC): an
-- index per filter. The partner API always filters by partner; with a
-- second filter, the planner reads the index it expects to be the more
-- selective (or intersects two) and checks the other conditions on each
-- row. Listed from the least selective filter to the most, the order
-- SQLite's planner needs (see its schema).
-- By event type, and by status alone (the admin's views).
CREATE INDEX messages_type ON messages (event_type, id DESC);
CREATE INDEX messages_status ON messages (status, id DESC);
-- By the last attempt's error class. The query repeats last_error_class <>
-- '' so that both databases may use it. Holds only messages whose last
-- attempt failed.
CREATE INDEX messages_errors ON messages (last_error_class, id DESC) WHERE last_error_class <> '';
-- Of a partner: the partner API's delivery log.
CREATE INDEX messages_partner ON messages (partner_id, id DESC);
-- Of an endpoint; of a shipment.
CREATE INDEX messages_endpoint ON messages (endpoint_id, id DESC);
CREATE INDEX messages_shipment ON messages (shipment_id, id DESC);
-- Failed messages. Every query that reads these writes status = 'failed'
-- as a literal, so that both databases may use them. Hold only failed
-- messages.
-- Of a partner: ListMessages of a partner by status failed.
CREATE INDEX messages_partner_failed ON messages (partner_id, id DESC) WHERE status = 'failed';
-- Of an endpoint: dead letters (ORDER BY id DESC), and CountFailed and
-- RequeueFailed (created_at in a range, in id order after a cursor). Not
-- holding created_at as well: SQLite would then take the narrower
-- messages_partner_failed for a partner's dead letters of an endpoint.
CREATE INDEX messages_failed ON messages (endpoint_id, id DESC) WHERE status = 'failed';
-- An endpoint belongs to one partner. Taking endpoint_id = ? AND
-- partner_id = ? for independent conditions, the planner would expect few
-- rows to match both and intersect messages_endpoint and messages_partner,
-- then sort, rather than read messages_endpoint in order. ANALYZE
-- (autovacuum) fills these statistics in.
CREATE STATISTICS messages_endpoint_partner (dependencies) ON endpoint_id, partner_id FROM messages;
-- DueMessages, pending half (status = 'pending' AND next_attempt_at < ?
-- ORDER BY next_attempt_at); holds only pending messages.
CREATE INDEX messages_due ON messages (next_attempt_at, id) WHERE status = 'pending';
-- DueMessages, expired-lease half (status = 'delivering' AND lease_until < ?
-- ORDER BY lease_until); holds only messages being delivered.
CREATE INDEX messages_leases ON messages (lease_until, id) WHERE status = 'delivering';

CREATE TABLE attempts (
    id               TEXT COLLATE "C" PRIMARY KEY,
    message_id       TEXT COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    endpoint_id      TEXT COLLATE "C" NOT NULL,
    partner_id       TEXT COLLATE "C" NOT NULL,
    number           INTEGER NOT NULL,
    trigger          TEXT    NOT NULL,
    url              TEXT    NOT NULL,
    started_at       BIGINT  NOT NULL,
    duration_ms      BIGINT  NOT NULL,
    status_code      INTEGER NOT NULL DEFAULT 0,
    response_body    TEXT    NOT NULL DEFAULT '',
    response_headers TEXT    NOT NULL DEFAULT '{}',
    error_class      TEXT    NOT NULL DEFAULT '',
    error            TEXT    NOT NULL DEFAULT ''
);

-- EndpointHealth: the attempts of the last hour and day (endpoint_id = ?
-- AND started_at BETWEEN ? AND ?), the newest success (... ORDER BY
-- started_at DESC LIMIT 1) and the failures since it.
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, started_at);
-- EndpointHealth's newest failure (endpoint_id = ? AND error_class <> ''
-- ORDER BY started_at DESC LIMIT 1): an endpoint that rarely fails would
-- otherwise have its whole history read back to its last failure. Holds
-- only failed attempts.
CREATE INDEX attempts_endpoint_failures ON attempts (endpoint_id, started_at) WHERE error_class <> '';
-- SearchAttempts, newest first (... = ? AND id < ? ORDER BY id DESC): an
-- index per filter, from the least selective filter to the most, as for
-- messages.
-- By error class, and of failures of any class: the queries repeat
-- error_class <> '' so that both databases may use these. Hold only failed
-- attempts.
CREATE INDEX attempts_errors ON attempts (error_class, id DESC) WHERE error_class <> '';
CREATE INDEX attempts_failed ON attempts (id DESC) WHERE error_class <> '';
-- Of a partner, and a partner's failures (of any class, or of one: the
-- partner API always filters by partner); of an endpoint.
CREATE INDEX attempts_partner ON attempts (partner_id, id DESC);
CREATE INDEX attempts_partner_failed ON attempts (partner_id, id DESC) WHERE error_class <> '';
CREATE INDEX attempts_endpoint_recent ON attempts (endpoint_id, id DESC);
-- Of a message; also ListAttempts (message_id = ? ORDER BY number, id),
-- which sorts the message's few attempts, and the cascade from messages.
-- Not (message_id, number, id): SQLite would then read a partner's
-- attempts of a message from attempts_partner, to spare itself that sort.
CREATE INDEX attempts_message ON attempts (message_id, id);
-- PurgeAttempts (started_at < ? ORDER BY started_at LIMIT ?).
CREATE INDEX attempts_retention ON attempts (started_at);
-- An endpoint belongs to one partner, as for messages.
CREATE STATISTICS attempts_endpoint_partner (dependencies) ON endpoint_id, partner_id FROM attempts;

-- Re-queueing the failed messages of an endpoint created in [since, until),
-- done in batches in the background. No foreign key, like messages.
CREATE TABLE recover_jobs (
    id          TEXT COLLATE "C" PRIMARY KEY,
    endpoint_id TEXT COLLATE "C" NOT NULL,
    partner_id  TEXT COLLATE "C" NOT NULL,
    since       BIGINT  NOT NULL,
    -- NULL: no end.
    until       BIGINT,
    -- 'running' or 'done'.
    status      TEXT    NOT NULL,
    total       INTEGER NOT NULL DEFAULT 0,
    requeued    INTEGER NOT NULL DEFAULT 0,
    -- The id of the last message handled; '' before the first.
    cursor      TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    finished_at BIGINT
);

-- At most one running job per endpoint and range: CreateRecoverJob's
-- INSERT ... ON CONFLICT DO NOTHING, then its look-up of the running job
-- (endpoint_id = ? AND since = ? AND COALESCE(until, -1) = ? AND status =
-- 'running'). A job that is done leaves it, so the range can be recovered
-- again.
CREATE UNIQUE INDEX recover_jobs_running ON recover_jobs (endpoint_id, since, COALESCE(until, -1)) WHERE status = 'running';

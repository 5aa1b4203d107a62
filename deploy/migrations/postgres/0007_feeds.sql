-- Pull endpoints and their feeds: an endpoint of kind pull has no URL; its
-- messages wait, pending with no next attempt, until its partner reads
-- them, GET /v1/partners/{p}/endpoints/{e}/feed, and reading acknowledges.

-- webhook or pull; never changes after creation.
ALTER TABLE endpoints ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook';

-- One row per pull endpoint that has been read: its feed's counter and
-- what its reads have acknowledged. ReadFeed locks it for the whole read.
-- No foreign key, like messages: a deleted endpoint's log stays.
CREATE TABLE feed_positions (
    endpoint_id    TEXT COLLATE "C" PRIMARY KEY,
    -- The last position given to a message.
    last_position  BIGINT NOT NULL DEFAULT 0,
    -- The highest cursor a read has acknowledged up to: every message at
    -- or before it has been acknowledged.
    acked_position BIGINT NOT NULL DEFAULT 0,
    -- When the feed was last read, and last acknowledged.
    last_read_at   BIGINT,
    last_acked_at  BIGINT
);

-- Each pull message's feed position, 1, 2, 3… in its endpoint's feed. A
-- message has none until a read numbers it: ReadFeed, under its feed's row
-- lock, numbers unread messages already committed in id order, so that
-- one that commits late is numbered after those read before it and no
-- cursor passes it by. A table of its own rather than a column of
-- messages, whose every row would carry it (and which SQLite's planner
-- weighs when it picks an index for the delivery log).
CREATE TABLE feed_entries (
    endpoint_id TEXT COLLATE "C" NOT NULL,
    position    BIGINT NOT NULL,
    message_id  TEXT COLLATE "C" NOT NULL,
    -- ReadFeed's page (endpoint_id = ? AND position > ? ORDER BY position
    -- LIMIT ?), its acknowledgement (position > ? AND position <= ?) and
    -- its numbering's check that a message has no position yet (position >
    -- the acknowledged one AND message_id = ?: the few unread numbered).
    PRIMARY KEY (endpoint_id, position)
);

-- A feed's unread messages: ReadFeed's numbering (endpoint_id = ? AND
-- status = 'pending' AND next_attempt_at IS NULL ORDER BY id LIMIT ?) and
-- the feed's health (their count and oldest). The queries write the
-- predicate; the index holds only unread pull messages (a webhook
-- endpoint's pending message always has its next attempt).
CREATE INDEX messages_unread ON messages (endpoint_id, id) WHERE status = 'pending' AND next_attempt_at IS NULL;

-- Pull endpoints and their feeds: an endpoint of kind pull has no URL; its
-- messages wait, pending with no next attempt, until its partner reads
-- them, GET /v1/partners/{p}/endpoints/{e}/feed, and reading acknowledges.

-- webhook or pull; never changes after creation.
ALTER TABLE endpoints ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook';

-- A pull message's place in its endpoint's feed, 1, 2, 3…; NULL for a
-- message of a webhook endpoint, and for a pull message no read has
-- numbered yet. Numbered by ReadFeed under its feed's row lock, in the
-- order of the message ids, so that a message that commits late is
-- numbered after those read before it and no cursor passes it by.
ALTER TABLE messages ADD COLUMN feed_position BIGINT;

-- One row per pull endpoint that has been read: its feed's counter and
-- what its reads have acknowledged. ReadFeed locks it for the whole read.
-- No foreign key, like messages: a deleted endpoint's log stays.
CREATE TABLE feed_positions (
    endpoint_id    TEXT PRIMARY KEY,
    -- The last position given to a message.
    last_position  BIGINT NOT NULL DEFAULT 0,
    -- The highest cursor a read has acknowledged up to.
    acked_position BIGINT NOT NULL DEFAULT 0,
    -- When the feed was last read, and its last acknowledgement.
    last_read_at   BIGINT,
    last_acked_at  BIGINT
);

-- ReadFeed's page (endpoint_id = ? AND feed_position > ? ORDER BY
-- feed_position LIMIT ?). Holds only numbered pull messages.
CREATE INDEX messages_feed ON messages (endpoint_id, feed_position) WHERE feed_position IS NOT NULL;
-- A feed's unread messages: ReadFeed's acknowledgement (endpoint_id = ?
-- AND feed_position <= ?), its numbering (endpoint_id = ? AND
-- feed_position IS NULL ORDER BY id LIMIT ?) and the feed's health (its
-- count and oldest). Every query that reads it writes the predicate; it
-- holds only unread pull messages (a webhook message that is pending has
-- its next attempt).
CREATE INDEX messages_unread ON messages (endpoint_id, feed_position, id)
    WHERE status = 'pending' AND next_attempt_at IS NULL;

package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

const (
	// defaultFeedLimit and maxFeedLimit bound a page of a feed.
	defaultFeedLimit = 100
	maxFeedLimit     = 500
	// maxFeedWait is the longest a read of a feed may wait for a message.
	maxFeedWait = 30 * time.Second
)

// FeedReader reads pull endpoints' feeds; *dispatcher.Feed is one.
type FeedReader interface {
	Read(ctx context.Context, q dispatcher.FeedQuery, wait time.Duration) (dispatcher.FeedPage, error)
}

// FeedStore is what the handlers that show a feed's health need.
type FeedStore interface {
	FeedHealth(ctx context.Context, endpointID string) (dispatcher.FeedHealth, error)
}

// FeedView is the answer of GET …/endpoints/{id}/feed.
type FeedView struct {
	// Data holds each message as a webhook would carry it, with its id
	// (dispatcher.FeedItem.Envelope).
	Data []json.RawMessage `json:"data"`
	// NextCursor, given as ?after=, acknowledges this page and reads the
	// next.
	NextCursor string `json:"next_cursor"`
}

// ReadFeed handles GET …/endpoints/{endpoint_id}/feed?after=&limit=&wait=:
// the messages of a pull endpoint after the cursor after (from the first
// unacknowledged one without it), at most limit (1–500, default 100),
// waiting up to wait (0–30 s, whole seconds or a Go duration such as
// 500ms) for one when there is none. Reading with a cursor acknowledges
// every message at or before it. A bad cursor is 400 invalid_cursor; a
// bad limit or wait, 422 invalid_field; a webhook endpoint's feed, 409
// not_a_pull_endpoint.
func ReadFeed(st endpointGetter, feed FeedReader) gin.HandlerFunc {
	return func(c *gin.Context) {
		ep, err := visibleEndpoint(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		if !ep.Pull() {
			abort(c, errorf(http.StatusConflict, "not_a_pull_endpoint",
				"endpoint %s is a webhook endpoint: its messages are sent to its URL, not read; only a pull endpoint (kind pull) has a feed", ep.ID))
			return
		}
		q, wait, err := parseFeedQuery(c)
		if err != nil {
			abort(c, err)
			return
		}
		q.EndpointID, q.Ordered, q.At = ep.ID, ep.Ordered(), time.Now().UTC()
		page, err := feed.Read(c.Request.Context(), q, wait)
		if err != nil {
			abort(c, err)
			return
		}
		out := FeedView{Data: make([]json.RawMessage, 0, len(page.Items)), NextCursor: FeedCursor(page.Next)}
		for _, it := range page.Items {
			b, err := it.Envelope()
			if err != nil {
				abort(c, err)
				return
			}
			out.Data = append(out.Data, b)
		}
		c.PureJSON(http.StatusOK, out)
	}
}

// parseFeedQuery reads the query parameters after, limit and wait.
func parseFeedQuery(c *gin.Context) (dispatcher.FeedQuery, time.Duration, error) {
	q := dispatcher.FeedQuery{Limit: defaultFeedLimit}
	if s, ok := c.GetQuery("after"); ok {
		pos, err := parseFeedCursor(s)
		if err != nil {
			return q, 0, err
		}
		q.After = &pos
	}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxFeedLimit {
			return q, 0, subscriptions.Fieldf("limit", "must be a whole number from 1 to %d", maxFeedLimit)
		}
		q.Limit = n
	}
	var wait time.Duration
	if s := c.Query("wait"); s != "" {
		var err error
		if wait, err = parseFeedWait(s); err != nil {
			return q, 0, err
		}
	}
	return q, wait, nil
}

// parseFeedWait reads a wait: whole seconds ("10") or a Go duration
// ("1500ms"), from 0 to 30 s.
func parseFeedWait(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if n, nerr := strconv.Atoi(s); nerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil || d < 0 || d > maxFeedWait {
		return 0, subscriptions.Fieldf("wait", "must be from 0 to 30 seconds, in whole seconds (10) or as a duration (1500ms)")
	}
	return d, nil
}

// feedCursorPrefix starts every feed cursor, before its encoding.
const feedCursorPrefix = "feed:"

// FeedCursor returns the opaque cursor of feed position pos.
func FeedCursor(pos int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(feedCursorPrefix + strconv.FormatInt(pos, 10)))
}

// parseFeedCursor returns the position of a cursor FeedCursor made, or a
// 400 invalid_cursor error.
func parseFeedCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), feedCursorPrefix); ok {
			if pos, err := strconv.ParseInt(rest, 10, 64); err == nil && pos >= 0 && strconv.FormatInt(pos, 10) == rest {
				return pos, nil
			}
		}
	}
	e := errorf(http.StatusBadRequest, "invalid_cursor",
		"after must be a next_cursor this feed returned; leave it out to read from the first unacknowledged message")
	e.Field = "after"
	return 0, e
}

package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// The ingest handlers' operations; dispatcher.Ingest does both.
type (
	eventPoster interface {
		Post(ctx context.Context, raw []byte, idempotencyKey string) (dispatcher.Accepted, error)
	}
	batchPoster interface {
		Batch(ctx context.Context, raw []byte) ([]dispatcher.BatchResult, error)
	}
)

// PostEvent handles POST /v1/events (with an optional Idempotency-Key
// header): 202 once the event is committed, with its id and whether it
// was a duplicate.
func PostEvent(in eventPoster) gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, err := readBody(c, dispatcher.MaxEventSize)
		if err != nil {
			abort(c, err)
			return
		}
		a, err := in.Post(dispatcher.IncomingTrace(c.Request.Context(), c.Request.Header), raw, c.GetHeader("Idempotency-Key"))
		respond(c, http.StatusAccepted, a, err)
	}
}

// BatchItem is the result for one event of a batch: an id (202) or an error.
type BatchItem struct {
	Index     int    `json:"index"`
	Status    int    `json:"status"`
	ID        string `json:"id,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Error     *Error `json:"error,omitempty"`
}

// PostBatch handles POST /v1/events/batch: {"events": [...]} with up to 500
// events. Each is validated and stored on its own merits; the answer is 200
// with one result per event, in order, its field named from the batch
// (events[i].…).
func PostBatch(in batchPoster) gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, err := readBody(c, dispatcher.MaxBatchBody)
		if err != nil {
			abort(c, err)
			return
		}
		results, err := in.Batch(dispatcher.IncomingTrace(c.Request.Context(), c.Request.Header), raw)
		if err != nil {
			abort(c, err)
			return
		}
		items := make([]BatchItem, len(results))
		for i, r := range results {
			items[i] = BatchItem{Index: i, Status: http.StatusAccepted, ID: r.ID, Duplicate: r.Duplicate}
			if r.Err != nil {
				items[i] = BatchItem{Index: i}
				items[i].Status, items[i].Error = itemError(r.Err, fmt.Sprintf("events[%d].", i))
			}
		}
		c.PureJSON(http.StatusOK, gin.H{"data": items})
	}
}

// itemError is the answer for one event of a batch, its field prefixed
// with prefix. Unlike abort's, an unknown error's text is shown.
func itemError(err error, prefix string) (int, *Error) {
	e, ok := toError(err)
	if !ok {
		return http.StatusInternalServerError, &Error{Code: "internal_error", Message: err.Error()}
	}
	out := *e
	if out.Field != "" {
		out.Field = prefix + out.Field
	}
	return out.Status, &out
}

type eventLister interface {
	ListEvents(ctx context.Context, q dispatcher.EventQuery) ([]dispatcher.Event, error)
}

// ListEvents handles GET /v1/events (admin): events newest first, with the
// filters type (exact, or a prefix wildcard such as shiphook.* for
// shiphook's own operational events), shipment_id and status (resolved or
// unresolved).
func ListEvents(st eventLister) gin.HandlerFunc {
	return func(c *gin.Context) {
		status := c.Query("status")
		if status != "" && status != dispatcher.EventResolved && status != dispatcher.EventUnresolved {
			abort(c, subscriptions.Fieldf("status", "%q is not an event status; use resolved or unresolved", status))
			return
		}
		listWith(c, func(page subscriptions.Page) ([]dispatcher.Event, error) {
			return st.ListEvents(c.Request.Context(), dispatcher.EventQuery{Type: c.Query("type"), ShipmentID: c.Query("shipment_id"), Status: status, Page: page})
		}, func(e dispatcher.Event) string { return e.ID })
	}
}

type eventGetter interface {
	Event(ctx context.Context, id string) (dispatcher.Event, error)
	SourceItem(ctx context.Context, id string) (dispatcher.SourceItem, error)
}

// shownEvent is an event as an admin sees it: with the source item it
// came from, original included, if it came through a source.
type shownEvent struct {
	dispatcher.Event
	SourceItem *dispatcher.SourceItem `json:"source_item,omitempty"`
}

// GetEvent handles GET /v1/events/{event_id} (admin): the event, and the
// source item it came from (while its source exists).
func GetEvent(st eventGetter) gin.HandlerFunc {
	return func(c *gin.Context) {
		ev, err := st.Event(c.Request.Context(), c.Param("event_id"))
		if errors.Is(err, subscriptions.ErrNotFound) {
			err = notFound("event %s not found", c.Param("event_id"))
		}
		out := shownEvent{Event: ev}
		if err == nil && ev.SourceItemID != "" {
			it, ierr := st.SourceItem(c.Request.Context(), ev.SourceItemID)
			switch {
			case ierr == nil:
				out.SourceItem = &it
			case !errors.Is(ierr, subscriptions.ErrNotFound):
				err = ierr
			}
		}
		respond(c, http.StatusOK, out, err)
	}
}

// ListEventTypes handles GET /v1/event-types: the whole catalog, one page.
func ListEventTypes() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.PureJSON(http.StatusOK, List[subscriptions.EventType]{Data: subscriptions.Catalog()})
	}
}

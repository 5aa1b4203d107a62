package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

// SourceStore keeps sources and the items of their payloads; *store.Store
// is one.
type SourceStore interface {
	CreateSource(ctx context.Context, s sources.Source) error
	// Source returns subscriptions.ErrNotFound.
	Source(ctx context.Context, id string) (sources.Source, error)
	ListSources(ctx context.Context, page subscriptions.Page) ([]sources.Source, error)
	UpdateSource(ctx context.Context, s sources.Source) error
	DeleteSource(ctx context.Context, id string) error
	// SourceItem returns subscriptions.ErrNotFound.
	SourceItem(ctx context.Context, id string) (dispatcher.SourceItem, error)
	ListSourceItems(ctx context.Context, q dispatcher.ItemQuery) ([]dispatcher.SourceItem, error)
}

type sourceGetter interface {
	Source(ctx context.Context, id string) (sources.Source, error)
}

// sourceOf returns the source the path names; a 404 if it does not exist.
func sourceOf(c *gin.Context, st sourceGetter) (sources.Source, error) {
	id := c.Param("source_id")
	s, err := st.Source(c.Request.Context(), id)
	if errors.Is(err, subscriptions.ErrNotFound) {
		err = notFound("source %s not found", id)
	}
	return s, err
}

type sourceCreator interface {
	CreateSource(ctx context.Context, s sources.Source) error
}

// CreateSource handles POST /v1/sources (admin): 201 with the source and,
// for a DCSA source, its secret, which only this answer and GET …/secret
// show.
func CreateSource(st sourceCreator) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in sources.Input
		if err := bindJSON(c, &in); err != nil {
			abort(c, err)
			return
		}
		s, err := sources.NewSource(in)
		if err == nil {
			err = st.CreateSource(c.Request.Context(), s)
		}
		respond(c, http.StatusCreated, sources.Created{Source: s, Secret: s.Secret}, err)
	}
}

type sourceLister interface {
	ListSources(ctx context.Context, page subscriptions.Page) ([]sources.Source, error)
}

// ListSources handles GET /v1/sources (admin), by id.
func ListSources(st sourceLister) gin.HandlerFunc {
	return func(c *gin.Context) {
		listWith(c, func(page subscriptions.Page) ([]sources.Source, error) {
			return st.ListSources(c.Request.Context(), page)
		}, func(s sources.Source) string { return s.ID })
	}
}

// GetSource handles GET /v1/sources/{source_id} (admin).
func GetSource(st sourceGetter) gin.HandlerFunc {
	return func(c *gin.Context) {
		s, err := sourceOf(c, st)
		respond(c, http.StatusOK, s, err)
	}
}

// GetSourceSecret handles GET /v1/sources/{source_id}/secret (admin): the
// secret a DCSA source's notifications are signed with, to give to the
// carrier as the subscription's secret.
func GetSourceSecret(st sourceGetter) gin.HandlerFunc {
	return func(c *gin.Context) {
		s, err := sourceOf(c, st)
		if err == nil && s.Format != sources.FormatDCSA {
			err = notFound("source %s is of format %s and has no secret; only a dcsa-tnt-2.2 source has one", s.ID, s.Format)
		}
		respond(c, http.StatusOK, gin.H{"secret": s.Secret}, err)
	}
}

type sourceUpdater interface {
	sourceGetter
	UpdateSource(ctx context.Context, s sources.Source) error
}

// UpdateSource handles PATCH /v1/sources/{source_id} (admin): name,
// mapping (compiled before it is saved) and a DCSA source's secret.
func UpdateSource(st sourceUpdater) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in sources.Input
		if err := bindJSON(c, &in); err != nil {
			abort(c, err)
			return
		}
		s, err := sourceOf(c, st)
		if err == nil {
			err = in.Update(&s, time.Now().UTC())
		}
		if err == nil {
			err = st.UpdateSource(c.Request.Context(), s)
		}
		respond(c, http.StatusOK, s, err)
	}
}

type sourceDeleter interface {
	DeleteSource(ctx context.Context, id string) error
}

// DeleteSource handles DELETE /v1/sources/{source_id} (admin): its items
// and the keys bound to it go with it; its events stay.
func DeleteSource(st sourceDeleter) gin.HandlerFunc {
	return func(c *gin.Context) {
		err := st.DeleteSource(c.Request.Context(), c.Param("source_id"))
		if errors.Is(err, subscriptions.ErrNotFound) {
			err = notFound("source %s not found", c.Param("source_id"))
		}
		if err != nil {
			abort(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// sourceKey is where sourceAuth keeps the source a request posts to.
const sourceKey = "shiphook.source"

// sourceAuth loads the source the path names (404 if there is none) and
// lets through a request that may post to it. A DCSA source's
// notifications are authenticated by their signature, which the handler
// checks with the body, so no API key is asked; for the other formats, an
// admin key, or an ingest key that is not bound to another source.
func sourceAuth(st sourceGetter, keys principals) gin.HandlerFunc {
	return func(c *gin.Context) {
		s, err := sourceOf(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		c.Set(sourceKey, s)
		if s.Format == sources.FormatDCSA {
			c.Next()
			return
		}
		p, err := principalFrom(c, keys)
		switch {
		case err != nil:
		case p.Role != subscriptions.RoleAdmin && p.Role != subscriptions.RoleIngest:
			err = errorf(http.StatusForbidden, "forbidden", "a %s key may not post events", p.Role)
		case p.SourceID != "" && p.SourceID != s.ID:
			err = errorf(http.StatusForbidden, "forbidden", "this key is bound to source %s and may post there only", p.SourceID)
		}
		if err != nil {
			abort(c, err)
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

// SourceHead handles HEAD /v1/sources/{source_id}/events without
// authentication: 204 if the source exists, 404 if not, 503 while the
// database cannot answer. A DCSA publisher checks a
// subscription's callback URL this way before it sends notifications.
func SourceHead(st sourceGetter) gin.HandlerFunc {
	return func(c *gin.Context) {
		if _, err := sourceOf(c, st); err != nil {
			abort(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// The item operations of dispatcher.Ingest.
type itemIngest interface {
	Items(ctx context.Context, sourceID string, items []sources.Item) ([]dispatcher.ItemResult, error)
	ReplayItem(ctx context.Context, item dispatcher.SourceItem, translated []sources.Item) (dispatcher.ItemResult, error)
}

// ItemAnswer is what became of one item of a source's payload.
type ItemAnswer struct {
	ItemID string                `json:"item_id"`
	Status dispatcher.ItemStatus `json:"status"`
	Events []dispatcher.Accepted `json:"events"`
	Error  *dispatcher.ItemError `json:"error,omitempty"`
}

func itemAnswer(r dispatcher.ItemResult) ItemAnswer {
	a := ItemAnswer{ItemID: r.Item.ID, Status: r.Item.Status, Events: r.Events, Error: r.Item.Error}
	if a.Events == nil {
		a.Events = []dispatcher.Accepted{}
	}
	return a
}

// PostSourceEvents handles POST /v1/sources/{source_id}/events, behind
// sourceAuth: the source's own payload, translated by its format into
// items, each stored with its original and its events. A DCSA
// notification must carry a valid Notification-Signature (401
// invalid_signature otherwise, and nothing is stored). The answer is 200
// with one result per item, in order; a 4xx only if the body as a whole
// cannot be read. A DCSA source answers 204 with no body once the items
// are stored, also when some events could not be translated (they are
// items with their error): the DCSA callback expects 204, and the
// publisher would gain nothing by sending the same events again.
func PostSourceEvents(in itemIngest) gin.HandlerFunc {
	return func(c *gin.Context) {
		v, _ := c.Get(sourceKey)
		s, _ := v.(sources.Source)
		raw, err := readBody(c, dispatcher.MaxBatchBody)
		if err == nil && s.Format == sources.FormatDCSA && !sources.VerifyDCSASignature(s.Key(), raw, c.GetHeader("Notification-Signature")) {
			err = errorf(http.StatusUnauthorized, "invalid_signature",
				"the Notification-Signature header is missing or is not sha256=<hex HMAC-SHA256 of the body> under the source's secret")
		}
		var results []dispatcher.ItemResult
		if err == nil {
			var items []sources.Item
			if items, err = translate(c.Request.Context(), s, raw); err == nil {
				results, err = in.Items(dispatcher.IncomingTrace(c.Request.Context(), c.Request.Header), s.ID, items)
			}
		}
		if err != nil {
			abort(c, err)
			return
		}
		if s.Format == sources.FormatDCSA {
			c.Status(http.StatusNoContent)
			return
		}
		out := make([]ItemAnswer, len(results))
		for i, r := range results {
			out[i] = itemAnswer(r)
		}
		c.PureJSON(http.StatusOK, gin.H{"items": out})
	}
}

// translate runs s's translator over raw, which must be UTF-8.
func translate(ctx context.Context, s sources.Source, raw []byte) ([]sources.Item, error) {
	if !utf8.Valid(raw) {
		return nil, errorf(http.StatusBadRequest, "invalid_body", "the body is not UTF-8")
	}
	tr, err := s.Translator()
	if err != nil {
		return nil, err
	}
	return tr.Translate(ctx, raw)
}

type itemLister interface {
	sourceGetter
	ListSourceItems(ctx context.Context, q dispatcher.ItemQuery) ([]dispatcher.SourceItem, error)
}

// ListSourceItems handles GET /v1/sources/{source_id}/items (admin): the
// source's items, newest first, with their originals; ?status= keeps
// those of one status (accepted, ignored, rejected, unmapped, unresolved).
func ListSourceItems(st itemLister) gin.HandlerFunc {
	return func(c *gin.Context) {
		s, err := sourceOf(c, st)
		status := dispatcher.ItemStatus(c.Query("status"))
		if err == nil && status != "" && !slices.Contains(dispatcher.ItemStatuses, status) {
			err = subscriptions.Fieldf("status", "unknown status %q; use accepted, ignored, rejected, unmapped or unresolved", status)
		}
		if err != nil {
			abort(c, err)
			return
		}
		listWith(c, func(page subscriptions.Page) ([]dispatcher.SourceItem, error) {
			return st.ListSourceItems(c.Request.Context(), dispatcher.ItemQuery{SourceID: s.ID, Status: status, Page: page})
		}, func(it dispatcher.SourceItem) string { return it.ID })
	}
}

type itemGetter interface {
	sourceGetter
	SourceItem(ctx context.Context, id string) (dispatcher.SourceItem, error)
}

// itemOf returns the source and the item of it that the path names; a 404
// if either does not exist.
func itemOf(c *gin.Context, st itemGetter) (sources.Source, dispatcher.SourceItem, error) {
	s, err := sourceOf(c, st)
	if err != nil {
		return s, dispatcher.SourceItem{}, err
	}
	id := c.Param("item_id")
	it, err := st.SourceItem(c.Request.Context(), id)
	if errors.Is(err, subscriptions.ErrNotFound) || (err == nil && it.SourceID != s.ID) {
		err = notFound("item %s of source %s not found", id, s.ID)
	}
	return s, it, err
}

// GetSourceItem handles GET /v1/sources/{source_id}/items/{item_id} (admin).
func GetSourceItem(st itemGetter) gin.HandlerFunc {
	return func(c *gin.Context) {
		_, it, err := itemOf(c, st)
		respond(c, http.StatusOK, it, err)
	}
}

// ReplaySourceItem handles POST /v1/sources/{source_id}/items/{item_id}/replay
// (admin): the item's original is translated by the source's translator
// as it is now (a fixed mapping) and ingested again; the item's status,
// error and events are replaced. Events stored before are duplicates, by
// their ids, and are not delivered again. The answer is the item's result.
func ReplaySourceItem(st itemGetter, in itemIngest) gin.HandlerFunc {
	return func(c *gin.Context) {
		s, it, err := itemOf(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		items, err := translate(c.Request.Context(), s, it.Original)
		if err != nil {
			// The original as a whole does not translate: the item stays
			// unmapped, with this error.
			items = []sources.Item{{Original: it.Original, Err: err}}
		}
		r, err := in.ReplayItem(c.Request.Context(), it, items)
		respond(c, http.StatusOK, itemAnswer(r), err)
	}
}

// testedItem is what a mapping test shows of one item.
type testedItem struct {
	Status   dispatcher.ItemStatus `json:"status"`
	Original json.RawMessage       `json:"original"`
	Events   []json.RawMessage     `json:"events"`
	Error    *dispatcher.ItemError `json:"error,omitempty"`
}

// TestMapping handles POST /v1/sources/{source_id}/mapping/test (admin):
// {"payload": …, "mapping": {…}} runs the mapping given (or, without one,
// the source's translator as saved) over the payload and shows each item,
// its events and what ingest would say of them (ParseEvent's errors;
// partners are not looked up). Nothing is stored.
func TestMapping(st sourceGetter) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in struct {
			Payload json.RawMessage      `json:"payload"`
			Mapping *sources.MappingSpec `json:"mapping"`
		}
		if err := subscriptions.DecodeJSON(c.Request.Body, dispatcher.MaxBatchBody, &in); err != nil {
			abort(c, err)
			return
		}
		s, err := sourceOf(c, st)
		if err == nil && len(in.Payload) == 0 {
			err = subscriptions.Fieldf("payload", "is required: a payload as the source sends it")
		}
		if err == nil && in.Mapping != nil {
			err = sources.Input{Mapping: in.Mapping}.Update(&s, s.UpdatedAt)
		}
		var items []sources.Item
		if err == nil {
			items, err = translate(c.Request.Context(), s, in.Payload)
		}
		if err != nil {
			abort(c, err)
			return
		}
		out := make([]testedItem, len(items))
		for i, it := range items {
			out[i] = testedItem{Original: it.Original, Events: it.Events}
			if out[i].Events == nil {
				out[i].Events = []json.RawMessage{}
			}
			out[i].Status, out[i].Error = dispatcher.CheckItem(it)
		}
		c.PureJSON(http.StatusOK, gin.H{"items": out})
	}
}

package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

// ItemStatus is what became of one item of a source's payload.
type ItemStatus string

const (
	// ItemAccepted: its events were stored (or were stored before).
	ItemAccepted ItemStatus = "accepted"
	// ItemIgnored: it was translated into no event.
	ItemIgnored ItemStatus = "ignored"
	// ItemRejected: it was translated, but an event it became is not
	// valid (or names a partner that does not exist); none of its events
	// was stored.
	ItemRejected ItemStatus = "rejected"
	// ItemUnmapped: it could not be translated.
	ItemUnmapped ItemStatus = "unmapped"
	// ItemUnresolved: its events were stored, but one of them names no
	// one registered shipment and is unresolved; the item becomes
	// accepted once the reconciler resolves them all.
	ItemUnresolved ItemStatus = "unresolved"
)

// ItemStatuses lists every ItemStatus.
var ItemStatuses = []ItemStatus{ItemAccepted, ItemIgnored, ItemRejected, ItemUnmapped, ItemUnresolved}

// ItemError is why an item was rejected or unmapped, as the API shows an
// error: a stable code, a message, and the field at fault relative to the
// item (events[i].… for an event it became).
type ItemError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// SourceItem is one item of a payload that a source posted, kept with the
// original, so that it can be translated again (replayed) once its
// source's mapping is fixed.
type SourceItem struct {
	ID         string          `json:"id"`
	SourceID   string          `json:"source_id"`
	ReceivedAt time.Time       `json:"received_at"`
	Status     ItemStatus      `json:"status"`
	Error      *ItemError      `json:"error,omitempty"`
	Original   json.RawMessage `json:"original"`
	// EventIDs are the events it became, in order: the first event's id
	// for an event stored before.
	EventIDs []string `json:"event_ids"`
}

// ItemQuery selects a source's items, newest first.
type ItemQuery struct {
	SourceID string
	// Status, when not empty, is the one status to list.
	Status ItemStatus
	subscriptions.Page
}

// ItemSaver stores items with their events; Store is one.
type ItemSaver interface {
	// SaveSourceItems stores events as InsertEvents does and items, in
	// one transaction; an item whose id exists is replaced but for its
	// original and ReceivedAt. Each item's EventIDs are set from the
	// results of the events naming it by SourceItemID, in order. Results
	// are those of the events.
	SaveSourceItems(ctx context.Context, items []SourceItem, events []Event) ([]Insert, error)
}

// ItemResult is what became of one item: the item as stored, and for an
// accepted one its events.
type ItemResult struct {
	Item   SourceItem
	Events []Accepted
}

// Items stores the items that a source's translator made of a payload
// posted to source sourceID, each with its original, and their events:
// each event is checked as POST /v1/events checks it, and an item is
// accepted with all its events, or rejected with none. Untranslated items
// are stored as unmapped, so that nothing is lost. Everything is stored
// in one transaction, and the new events' fan-out scheduled. Results are
// one per item, in order. Returns an error only if there are more than
// MaxBatch items or storing fails.
func (in Ingest) Items(ctx context.Context, sourceID string, items []sources.Item) ([]ItemResult, error) {
	if len(items) > MaxBatch {
		return nil, subscriptions.Fieldf("body", "at most %d items per request, got %d", MaxBatch, len(items))
	}
	ctx, span := in.tracing().startIngest(ctx)
	defer span.End()
	now := time.Now().UTC()
	ps := make([]pending, len(items))
	for i, it := range items {
		original := it.Original
		if len(original) == 0 {
			original = json.RawMessage("null")
		}
		ps[i] = pending{
			row:    SourceItem{ID: subscriptions.NewID("itm"), SourceID: sourceID, ReceivedAt: now, Original: original},
			events: it.Events, err: it.Err,
		}
	}
	return in.ingestItems(ctx, ps)
}

// ReplayItem ingests item again as its original translates now (into
// translated, the items of its original): its status, error and events
// are replaced. Events stored before are duplicates, by their ids, and
// are not delivered again. Returns the errors of Items.
func (in Ingest) ReplayItem(ctx context.Context, item SourceItem, translated []sources.Item) (ItemResult, error) {
	p := pending{row: SourceItem{ID: item.ID, SourceID: item.SourceID, ReceivedAt: item.ReceivedAt, Original: item.Original}}
	for _, it := range translated {
		if it.Err != nil && p.err == nil {
			p.err = it.Err
		}
		p.events = append(p.events, it.Events...)
	}
	if p.err != nil {
		p.events = nil
	}
	res, err := in.ingestItems(ctx, []pending{p})
	if err != nil {
		return ItemResult{}, err
	}
	return res[0], nil
}

// pending is an item on its way in: its row, and what it was translated
// into.
type pending struct {
	row    SourceItem
	events []json.RawMessage
	err    error
}

// ingestItems checks the events of ps, and stores them all.
func (in Ingest) ingestItems(ctx context.Context, ps []pending) ([]ItemResult, error) {
	if in.ItemStore == nil {
		return nil, errors.New("ingest items: no item store")
	}
	parsed := make([][]Event, len(ps))
	var all []Event
	for i := range ps {
		parsed[i] = ps[i].check()
		all = append(all, parsed[i]...)
	}
	missing, err := checkParties(ctx, in.Partners, all)
	if err != nil {
		return nil, err
	}
	var evs []Event
	for i := range ps {
		if ps[i].row.Status != ItemAccepted {
			continue
		}
		if err := missingParties(parsed[i], missing); err != nil {
			ps[i].reject(err)
			continue
		}
		evs = append(evs, parsed[i]...)
	}
	rows := make([]SourceItem, len(ps))
	for i := range ps {
		rows[i] = ps[i].row
	}
	res, err := in.store(ctx, evs, func(ctx context.Context, evs []Event) ([]Insert, error) {
		markUnresolved(rows, evs)
		return in.ItemStore.SaveSourceItems(ctx, rows, evs)
	})
	if err != nil {
		return nil, err
	}
	in.Metrics.itemsRejected(rows)
	return itemResults(rows, evs, res), nil
}

// markUnresolved makes unresolved the accepted rows that an event of evs,
// resolved against the registry, names and that is unresolved.
func markUnresolved(rows []SourceItem, evs []Event) {
	unresolved := map[string]bool{}
	for _, ev := range evs {
		if ev.Unresolved != nil {
			unresolved[ev.SourceItemID] = true
		}
	}
	for i := range rows {
		if rows[i].Status == ItemAccepted && unresolved[rows[i].ID] {
			rows[i].Status = ItemUnresolved
		}
	}
}

// check sets p's status from what it was translated into, and returns its
// events parsed, each naming p as its item, if all of them are valid.
func (p *pending) check() []Event {
	switch {
	case p.err != nil:
		p.row.Status, p.row.Error = ItemUnmapped, itemErrorOf(p.err, "")
		return nil
	case len(p.events) == 0:
		p.row.Status = ItemIgnored
		return nil
	}
	evs := make([]Event, 0, len(p.events))
	for j, raw := range p.events {
		ev, err := ParseEvent(raw, "")
		if err != nil {
			p.reject(itemErrorOf(err, fmt.Sprintf("events[%d].", j)))
			return nil
		}
		ev.SourceItemID = p.row.ID
		evs = append(evs, ev)
	}
	p.row.Status = ItemAccepted
	return evs
}

// missingParties returns the error of the first of an item's events that
// names a partner in missing, its field under events[i].
func missingParties(evs []Event, missing map[string]bool) *ItemError {
	for i, ev := range evs {
		if err := missingParty(ev, missing); err != nil {
			return itemErrorOf(err, fmt.Sprintf("events[%d].", i))
		}
	}
	return nil
}

func (p *pending) reject(e *ItemError) {
	p.row.Status, p.row.Error = ItemRejected, e
}

// itemResults returns the results of rows, whose events evs were stored
// with the results res.
func itemResults(rows []SourceItem, evs []Event, res []Insert) []ItemResult {
	out := make([]ItemResult, len(rows))
	at := make(map[string]int, len(rows))
	for i, r := range rows {
		out[i].Item = r
		out[i].Item.EventIDs = []string{}
		at[r.ID] = i
	}
	for j, r := range res {
		i := at[evs[j].SourceItemID]
		out[i].Item.EventIDs = append(out[i].Item.EventIDs, r.ID)
		out[i].Events = append(out[i].Events, Accepted{ID: r.ID, Duplicate: !r.Created})
	}
	return out
}

// itemErrorOf is err as an item shows it, its field prefixed with prefix
// (an error of no field names what prefix names).
// An error of unknown kind (a translator's own) is shown with code
// untranslatable and its text.
func itemErrorOf(err error, prefix string) *ItemError {
	var (
		fe *subscriptions.FieldError
		de *subscriptions.Error
	)
	switch {
	case errors.As(err, &fe):
		return &ItemError{Code: "invalid_field", Message: fe.Message, Field: prefix + fe.Field}
	case errors.As(err, &de):
		e := &ItemError{Code: de.Code, Message: de.Message, Field: prefix + de.Field}
		if de.Field == "" {
			// The whole of it: events[i] itself.
			e.Field = strings.TrimSuffix(prefix, ".")
		}
		return e
	}
	return &ItemError{Code: "untranslatable", Message: err.Error()}
}

// CheckItem tells what Items would make of it, storing nothing: its status
// and error as far as the item itself decides them (whether the partners
// its events name exist is not looked up).
func CheckItem(it sources.Item) (ItemStatus, *ItemError) {
	p := pending{events: it.Events, err: it.Err}
	p.check()
	return p.row.Status, p.row.Error
}

package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/shiphook/shiphook/subscriptions"
)

const (
	// MaxEventSize is the largest event the ingest API accepts.
	MaxEventSize = 256 << 10
	// MaxBatch is the most events one batch may carry.
	MaxBatch = 500
	// MaxBatchBody bounds a batch request's body.
	MaxBatchBody = 32 << 20
)

// PartnerChecker tells which partners exist; subscriptions.Store is one.
type PartnerChecker interface {
	MissingPartners(ctx context.Context, ids []string) ([]string, error)
}

// Enqueuer schedules fan-out of newly stored events; *Queue is one.
type Enqueuer interface {
	EnqueueFanout(ctx context.Context, eventIDs ...string) error
}

// LocalFanout fans events out in this process as they are stored; the
// *Worker running in the same process is one.
type LocalFanout interface {
	// FanOutHere, while delivery workers run in this process, gives an
	// event its messages, to store with it, and returns what schedules
	// them once stored, given what storing it answered (not called if
	// the event was stored Unfanned); ok is false otherwise.
	FanOutHere(ev *Event) (schedule func(context.Context, Insert), ok bool)
}

// Ingest takes events in: it checks them, stores them and has them fanned
// out.
type Ingest struct {
	Store    EventInserter
	Partners PartnerChecker
	Queue    Enqueuer
	// Fanout, when the delivery workers run in this process, fans events
	// out as they are stored; nil otherwise, and fan-out is queued.
	Fanout LocalFanout
	// Events, when the delivery workers run in this process, is their
	// cache: stored events are handed over so that fan-out need not read
	// them back. Nil otherwise.
	Events *EventCache
	// ItemStore stores the items of sources' payloads with their events
	// (Ingest.Items); Store is one.
	ItemStore ItemSaver
	// Registry resolves the shipments events name (resolve.go) and keeps
	// up with the shipment.created and shipment.updated events; nil
	// resolves nothing, and events named by references alone are stored
	// unresolved.
	Registry Resolver
	// Tracer makes the spans of the events taken in (trace.go); nil, or a
	// no-op provider, makes none.
	Tracer trace.TracerProvider
	// Metrics counts the events taken in; nil counts nothing.
	Metrics *Metrics
}

// tracing returns the tracing of in.Tracer.
func (in Ingest) tracing() tracing { return newTracing(in.Tracer) }

// Resolver is what ingest needs of the shipment registry; Registry is
// one.
type Resolver interface {
	shipmentLookup
	MergeShipments(ctx context.Context, s []RegisteredShipment) error
}

// resolve resolves the shipments of evs (resolveShipments) and registers
// what those of types shipment.created and shipment.updated say of
// theirs, before they are stored: a failure stores nothing, and the
// source's retry does it all again.
func (in Ingest) resolve(ctx context.Context, evs []*Event) error {
	if err := resolveShipments(ctx, in.Registry, evs); err != nil {
		return err
	}
	if reg := registrations(evs); len(reg) > 0 && in.Registry != nil {
		if err := in.Registry.MergeShipments(ctx, reg); err != nil {
			return fmt.Errorf("register shipments: %w", err)
		}
	}
	return nil
}

// eventInput is an event as posted. Fields are parsed by hand afterwards so
// that every error names its field.
type eventInput struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OccurredAt string          `json:"occurred_at"`
	Shipment   *eventShipment  `json:"shipment"`
	Parties    []Party         `json:"parties"`
	Data       json.RawMessage `json:"data"`
}

// eventShipment is an event's shipment as posted; its references are
// parsed by subscriptions.ParseReferences.
type eventShipment struct {
	ID          string          `json:"id"`
	Mode        string          `json:"mode"`
	Origin      string          `json:"origin"`
	Destination string          `json:"destination"`
	Carrier     string          `json:"carrier"`
	References  json.RawMessage `json:"references"`
}

// Party is a partner named on a shipment, with its role there, one of
// subscriptions.Roles (shipper, consignee, carrier, agent, …).
type Party = subscriptions.Party

// EventInserter stores events; Store is one.
type EventInserter interface {
	InsertEvents(ctx context.Context, events []Event) ([]Insert, error)
}

// ParseEvent decodes and validates one event of at most MaxEventSize bytes:
// its shipment and parties in the standard vocabularies, its data against
// its type's schema. The event's Data is in the delivered form
// (subscriptions.NormalizeData): amounts as decimal strings with the
// digits given. Partner existence is checked by the caller. Errors are a
// *subscriptions.FieldError (a string of raw or the idempotency key that
// is not storable text among them), or a *subscriptions.Error of kind
// TooLarge or Malformed (from subscriptions.UnmarshalJSON).
func ParseEvent(raw []byte, idempotencyKey string) (Event, error) {
	if len(raw) > MaxEventSize {
		return Event{}, subscriptions.Errorf(subscriptions.TooLarge, "body_too_large", "the event is larger than %d KiB", MaxEventSize>>10)
	}
	var in eventInput
	if err := subscriptions.UnmarshalJSON(raw, &in); err != nil {
		return Event{}, err
	}
	now := time.Now().UTC()
	ev := Event{ID: subscriptions.NewID("evt"), SourceID: strings.TrimSpace(in.ID), IdempotencyKey: idempotencyKey, Type: in.Type, CreatedAt: now}
	if len(ev.SourceID) > 255 {
		return Event{}, subscriptions.Fieldf("id", "must be at most 255 characters")
	}
	if len(idempotencyKey) > 255 {
		return Event{}, subscriptions.Fieldf("Idempotency-Key", "header must be at most 255 characters")
	}
	if err := subscriptions.CheckText("Idempotency-Key", idempotencyKey); err != nil {
		return Event{}, err
	}
	if in.Type == "" {
		return Event{}, subscriptions.Fieldf("type", "is required; see GET /v1/event-types")
	}
	if strings.HasPrefix(in.Type, "shiphook.") {
		return Event{}, subscriptions.Fieldf("type", "%s is emitted by shiphook itself and cannot be posted", in.Type)
	}
	if _, ok := subscriptions.LookupType(in.Type); !ok {
		return Event{}, subscriptions.Fieldf("type", "unknown event type %q; see GET /v1/event-types", in.Type)
	}
	if in.OccurredAt == "" {
		return Event{}, subscriptions.Fieldf("occurred_at", "is required, as an RFC 3339 timestamp such as 2026-11-26T14:05:00Z")
	}
	t, err := time.Parse(time.RFC3339Nano, in.OccurredAt)
	if err != nil {
		return Event{}, subscriptions.Fieldf("occurred_at", "%q is not an RFC 3339 timestamp such as 2026-11-26T14:05:00Z", in.OccurredAt)
	}
	// The range holds in UTC, as the event is stored and delivered.
	if y := t.UTC().Year(); y < 1970 || y > 9999 {
		return Event{}, subscriptions.Fieldf("occurred_at", "%q is year %d in UTC; it must be from 1970 to 9999", in.OccurredAt, y)
	}
	ev.OccurredAt = t.UTC()
	if in.Shipment == nil {
		return Event{}, subscriptions.Fieldf("shipment", "is required")
	}
	if ev.Shipment, err = parseShipment(*in.Shipment); err != nil {
		return Event{}, err
	}
	if err := checkPartyList(in.Parties); err != nil {
		return Event{}, err
	}
	ev.Parties = in.Parties
	if ev.Parties == nil {
		ev.Parties = []Party{}
	}
	data := bytes.TrimSpace(in.Data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		data = []byte("{}")
	}
	if data[0] != '{' {
		return Event{}, subscriptions.Fieldf("data", "must be a JSON object")
	}
	// Stored and delivered as NormalizeData writes it: amounts as decimal
	// strings, places as objects.
	if ev.Data, err = subscriptions.NormalizeData(in.Type, data); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// parseShipment checks a posted shipment: an id or references (or both),
// and the standard vocabularies for the fields given: mode one of
// subscriptions.Modes, origin and destination UN/LOCODEs, the carrier a
// SCAC or IATA code. An empty field is one not given.
func parseShipment(in eventShipment) (Shipment, error) {
	s := Shipment{ID: in.ID, Mode: in.Mode, Origin: in.Origin, Destination: in.Destination, Carrier: in.Carrier}
	refs, err := subscriptions.ParseReferences("shipment.references", in.References)
	if err != nil {
		return Shipment{}, err
	}
	s.References = refs
	if strings.TrimSpace(s.ID) == "" {
		if s.ID != "" || refs.IsZero() {
			return Shipment{}, subscriptions.Fieldf("shipment.id", "shipment.id or shipment.references is required")
		}
	}
	if len(s.ID) > 200 {
		return Shipment{}, subscriptions.Fieldf("shipment.id", "must be at most 200 characters")
	}
	return s, checkAttributes("shipment.", s)
}

// checkPartyList checks the parties of a posted event: at most 50, each
// partner once, each with a role of subscriptions.Roles. Their existence
// is checked apart.
func checkPartyList(parties []Party) error {
	if len(parties) > 50 {
		return subscriptions.Fieldf("parties", "at most 50 parties")
	}
	seen := map[string]bool{}
	for i, p := range parties {
		field := fmt.Sprintf("parties[%d]", i)
		switch {
		case p.PartnerID == "":
			return subscriptions.Fieldf(field+".partner_id", "is required")
		case seen[p.PartnerID]:
			return subscriptions.Fieldf(field+".partner_id", "partner %s is listed twice; name each partner once", p.PartnerID)
		case p.Role == "":
			return subscriptions.Fieldf(field+".role", "is required; use one of %s", strings.Join(subscriptions.Roles, ", "))
		}
		if err := subscriptions.CheckRole(field+".role", p.Role); err != nil {
			return err
		}
		seen[p.PartnerID] = true
	}
	return nil
}

// checkParties returns the partners named in evs that do not exist.
func checkParties(ctx context.Context, pc PartnerChecker, evs []Event) (map[string]bool, error) {
	var ids []string
	seen := map[string]bool{}
	for _, ev := range evs {
		for _, p := range ev.Parties {
			if !seen[p.PartnerID] {
				seen[p.PartnerID] = true
				ids = append(ids, p.PartnerID)
			}
		}
	}
	missing := map[string]bool{}
	if len(ids) == 0 {
		return missing, nil
	}
	ms, err := pc.MissingPartners(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("check partners: %w", err)
	}
	for _, m := range ms {
		missing[m] = true
	}
	return missing, nil
}

func missingParty(ev Event, missing map[string]bool) error {
	for i, p := range ev.Parties {
		if missing[p.PartnerID] {
			return subscriptions.Fieldf(fmt.Sprintf("parties[%d].partner_id", i), "partner %s does not exist; create it with POST /v1/partners", p.PartnerID)
		}
	}
	return nil
}

// Accepted is the answer for one stored event.
type Accepted struct {
	ID string `json:"id"`
	// Duplicate is true when the event's id or Idempotency-Key was seen
	// before; ID is then the first event's and nothing new is delivered.
	Duplicate bool `json:"duplicate"`
}

// Post checks one event as posted, raw with the Idempotency-Key given,
// resolves its shipment against the registry (resolve.go; an event whose
// references name no one shipment is stored unresolved), and returns once
// it is committed. While delivery workers run in this process,
// its messages are committed with it, and their deliveries scheduled;
// otherwise its fan-out is scheduled. The reconciler makes sure that either
// happens even if Redis, or this process, loses it. Returns the errors of
// ParseEvent, or a *subscriptions.FieldError naming a partner that does not
// exist.
func (in Ingest) Post(ctx context.Context, raw []byte, idempotencyKey string) (Accepted, error) {
	tr := in.tracing()
	ctx, span := tr.startIngest(ctx)
	defer span.End()
	ev, err := ParseEvent(raw, idempotencyKey)
	if err != nil {
		in.Metrics.eventRejected("")
		return Accepted{}, err
	}
	ev.TraceParent = tr.traceParent(ctx)
	missing, err := checkParties(ctx, in.Partners, []Event{ev})
	if err != nil {
		return Accepted{}, err
	}
	if err := missingParty(ev, missing); err != nil {
		in.Metrics.eventRejected(ev.Type)
		return Accepted{}, err
	}
	if err := in.resolve(ctx, []*Event{&ev}); err != nil {
		return Accepted{}, err
	}
	schedule, here := in.fanOutHere(ctx, &ev)
	sctx, stored := tr.start(ctx, spanStore, trace.SpanKindInternal, attrEventID.String(ev.ID))
	res, err := in.Store.InsertEvents(sctx, []Event{ev})
	endStore(stored, err)
	if err != nil {
		return Accepted{}, fmt.Errorf("store event: %w", err)
	}
	endIngest(span, ev.ID, !res[0].Created)
	in.Metrics.eventsStored([]Event{ev}, res)
	if res[0].Created {
		ev.Messages = nil
		if res[0].Unfanned {
			ev.FannedOutAt = nil
		}
		in.Events.Put(ev)
		if here && !res[0].Unfanned {
			// Committed: scheduled even if the caller hangs up now.
			schedule(context.WithoutCancel(ctx), res[0])
		} else {
			in.enqueue(ctx, res[0].ID)
		}
	}
	return Accepted{ID: res[0].ID, Duplicate: !res[0].Created}, nil
}

// fanOutHere fans ev out through in.Fanout, if there is one.
func (in Ingest) fanOutHere(ctx context.Context, ev *Event) (schedule func(context.Context, Insert), ok bool) {
	if in.Fanout == nil {
		return nil, false
	}
	span := in.tracing().startFanoutHere(ctx, ev)
	defer endFanoutHere(span, ev)
	return in.Fanout.FanOutHere(ev)
}

// enqueue queues the fan-out of events ids.
func (in Ingest) enqueue(ctx context.Context, ids ...string) {
	span := in.tracing().startQueuedFanout(ctx, ids)
	defer span.End()
	if err := in.Queue.EnqueueFanout(ctx, ids...); err != nil {
		// The events are stored; the reconciler will enqueue them.
		logWarn(ctx, "enqueue fan-out; the reconciler will retry", "events", len(ids), "err", err)
	}
}

// BatchResult is what became of one event of a batch: Err, with its field
// relative to the event, or the event Accepted.
type BatchResult struct {
	Accepted
	Err error
}

// Batch takes in a batch as posted, {"events": [...]} with up to MaxBatch
// events in at most MaxBatchBody bytes. Each event is checked and stored on
// its own merits; valid events are committed together, and their fan-out
// scheduled. Results are one per event, in order. Returns an error, and no
// results, only if the batch as a whole cannot be read, or storing fails.
func (in Ingest) Batch(ctx context.Context, raw []byte) ([]BatchResult, error) {
	ctx, span := in.tracing().startIngest(ctx)
	defer span.End()
	var body struct {
		Events []json.RawMessage `json:"events"`
	}
	if len(raw) > MaxBatchBody {
		return nil, subscriptions.Errorf(subscriptions.TooLarge, "body_too_large", "the request body is larger than %d KiB", MaxBatchBody>>10)
	}
	// Each event's text is checked by ParseEvent, so that it fails alone.
	if err := subscriptions.UnmarshalEnvelope(raw, &body); err != nil {
		return nil, err
	}
	if len(body.Events) == 0 {
		return nil, subscriptions.Fieldf("events", "give at least one event")
	}
	if len(body.Events) > MaxBatch {
		return nil, subscriptions.Fieldf("events", "at most %d events per batch, got %d", MaxBatch, len(body.Events))
	}
	results := make([]BatchResult, len(body.Events))
	var (
		valid []Event
		at    []int
	)
	for i, r := range body.Events {
		ev, err := ParseEvent(r, "")
		if err != nil {
			in.Metrics.eventRejected("")
			results[i].Err = err
			continue
		}
		valid, at = append(valid, ev), append(at, i)
	}
	missing, err := checkParties(ctx, in.Partners, valid)
	if err != nil {
		return nil, err
	}
	var store []Event
	var storeAt []int
	for j, ev := range valid {
		if err := missingParty(ev, missing); err != nil {
			in.Metrics.eventRejected(ev.Type)
			results[at[j]].Err = err
			continue
		}
		store, storeAt = append(store, ev), append(storeAt, at[j])
	}
	if len(store) == 0 {
		return results, nil
	}
	res, err := in.store(ctx, store, in.Store.InsertEvents)
	if err != nil {
		return nil, err
	}
	for j, r := range res {
		results[storeAt[j]].Accepted = Accepted{ID: r.ID, Duplicate: !r.Created}
	}
	return results, nil
}

// store stores evs, checked and naming partners that exist, with insert,
// and schedules the fan-out of those it created. Results are those of
// insert, in the order of evs. Batch and the items of a source share it.
func (in Ingest) store(ctx context.Context, evs []Event, insert func(context.Context, []Event) ([]Insert, error)) ([]Insert, error) {
	resolving := make([]*Event, len(evs))
	for i := range evs {
		resolving[i] = &evs[i]
	}
	if err := in.resolve(ctx, resolving); err != nil {
		return nil, err
	}
	tr := in.tracing()
	tr.stamp(ctx, evs)
	sctx, stored := tr.start(ctx, spanStore, trace.SpanKindInternal, attrEvents.Int(len(evs)))
	res, err := insert(sctx, evs)
	endStore(stored, err)
	if err != nil {
		return nil, fmt.Errorf("store events: %w", err)
	}
	in.Metrics.eventsStored(evs, res)
	var created []string
	for j, r := range res {
		if r.Created {
			in.Events.Put(evs[j])
			created = append(created, r.ID)
		}
	}
	if len(created) > 0 {
		in.enqueue(ctx, created...)
	}
	return res, nil
}

package store

// This file keeps the DCSA feed (table dcsa_feed): for each stored event
// that has a DCSA Track & Trace 2.2 form, one row per partner among its
// parties, with what GET /dcsa/tnt/v2/events filters on. Rows are
// written with the event (insertEvents, ResolveEvents), in the same
// transaction; the DCSA event itself is rendered from the event when the
// feed is read.

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

const feedColumns = `partner_id, event_id, added_at, event_type, type_code, event_created, booking, bill_of_lading, equipment`

const feedColumnCount = 9

// feedInsertBatch is how many rows one INSERT carries: 4,500 parameters.
const feedInsertBatch = 500

// execer runs a statement: the database or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// feedArgs appends the column values of e's feed rows to args, one row
// per partner among its parties, none when e has no DCSA form or no
// parties. e's CreatedAt must be set as stored.
func feedArgs(args []any, e dispatcher.Event, now time.Time) []any {
	if len(e.Parties) == 0 {
		return args
	}
	f, ok := sources.DCSAFactsOf(dispatcher.CanonicalOf(e))
	if !ok {
		return args
	}
	seen := make(map[string]bool, len(e.Parties))
	for _, p := range e.Parties {
		if seen[p.PartnerID] {
			continue
		}
		seen[p.PartnerID] = true
		args = append(args, p.PartnerID, e.ID, micros(now), f.EventType, f.TypeCode, micros(f.Created),
			e.Shipment.References.Booking, e.Shipment.References.BillOfLading, f.EquipmentReference)
	}
	return args
}

// hasFeedRows reports whether any of events joins a feed when stored.
func hasFeedRows(events []dispatcher.Event) bool {
	for _, e := range events {
		if len(e.Parties) > 0 && subscriptions.HasDCSAForm(e.Type) {
			return true
		}
	}
	return false
}

// addCreatedToFeed adds the events of out that were created to the DCSA
// feed; db is a transaction when any of them joins it (insertEventsNow).
func (s *Store) addCreatedToFeed(ctx context.Context, db querier, events []dispatcher.Event, out []dispatcher.Insert) error {
	var args []any
	now := time.Now()
	for i, e := range events {
		if out[i].Created {
			args = feedArgs(args, e, now)
		}
	}
	if len(args) == 0 {
		return nil
	}
	ex, ok := db.(execer)
	if !ok {
		return fmt.Errorf("add to the DCSA feed: %T cannot execute a statement", db)
	}
	return s.addToFeed(ctx, ex, args)
}

// addToFeed writes the feed rows args holds (feedColumnCount values
// each); a row already there is left as it is.
func (s *Store) addToFeed(ctx context.Context, db execer, args []any) error {
	for start := 0; start < len(args); start += feedInsertBatch * feedColumnCount {
		chunk := args[start:min(len(args), start+feedInsertBatch*feedColumnCount)]
		query := `INSERT INTO dcsa_feed (` + feedColumns + `) VALUES ` + valueRows(len(chunk)/feedColumnCount, feedColumnCount) +
			` ON CONFLICT DO NOTHING`
		if _, err := db.ExecContext(ctx, s.q(query), chunk...); err != nil {
			return fmt.Errorf("add to the DCSA feed: %w", err)
		}
	}
	return nil
}

// ListDCSAFeed returns one page of q.PartnerID's DCSA feed, oldest first:
// q.Limit entries at most, of events not purged by retention.
func (s *Store) ListDCSAFeed(ctx context.Context, q dispatcher.DCSAFeedQuery) (_ []dispatcher.DCSAFeedEntry, err error) {
	defer s.unavailable(&err)
	query, args := dcsaFeedQuery(q)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list DCSA feed: %w", err)
	}
	var out []dispatcher.DCSAFeedEntry
	err = eachRow(rows, func(sc scanner) error {
		var added int64
		e, err := scanEvent(extraScan{sc, []any{&added}})
		if err != nil {
			return err
		}
		out = append(out, dispatcher.DCSAFeedEntry{Event: e, Place: dispatcher.DCSAFeedPlace{AddedAt: fromMicros(added), EventID: e.ID}})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list DCSA feed: %w", err)
	}
	return out, nil
}

// dcsaFeedQuery is the statement of q: a descent of dcsa_feed_partner
// from q's place, its filters checked on the rows read, each joined to
// its event by the events' primary key.
func dcsaFeedQuery(q dispatcher.DCSAFeedQuery) (string, []any) {
	var sb strings.Builder
	args := []any{q.PartnerID}
	sb.WriteString(`SELECT ` + prefixed("e.", eventColumns) + `, f.added_at FROM dcsa_feed f JOIN events e ON e.id = f.event_id
		WHERE f.partner_id = ? AND e.purged_at IS NULL`)
	if a := q.After; a != nil {
		sb.WriteString(` AND (f.added_at, f.event_id) > (?, ?)`)
		args = append(args, micros(a.AddedAt), a.EventID)
	}
	in := func(column string, values []string) {
		sb.WriteString(` AND ` + column + ` IN (` + placeholders(len(values)) + `)`)
		for _, v := range values {
			args = append(args, v)
		}
	}
	if len(q.EventTypes) > 0 {
		in("f.event_type", q.EventTypes)
	}
	for _, c := range []struct {
		eventType string
		codes     []string
	}{{"TRANSPORT", q.TransportCodes}, {"EQUIPMENT", q.EquipmentCodes}, {"SHIPMENT", q.ShipmentCodes}} {
		if len(c.codes) > 0 {
			sb.WriteString(` AND f.event_type = ?`)
			args = append(args, c.eventType)
			in("f.type_code", c.codes)
		}
	}
	for _, c := range [][2]string{{"f.booking", q.Booking}, {"f.bill_of_lading", q.BillOfLading}, {"f.equipment", q.Equipment}} {
		if c[1] != "" {
			sb.WriteString(` AND ` + c[0] + ` = ?`)
			args = append(args, c[1])
		}
	}
	if q.CreatedFrom != nil {
		sb.WriteString(` AND f.event_created >= ?`)
		args = append(args, micros(*q.CreatedFrom))
	}
	if q.CreatedTo != nil {
		sb.WriteString(` AND f.event_created <= ?`)
		args = append(args, micros(*q.CreatedTo))
	}
	sb.WriteString(` ORDER BY f.added_at, f.event_id LIMIT ?`)
	args = append(args, q.Limit)
	return sb.String(), args
}

// prefixed returns the comma-separated columns, each with prefix.
func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, c := range parts {
		parts[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// extraScan scans a row into the destinations given and then extra: the
// columns a query selects after those of scanEvent.
type extraScan struct {
	sc    scanner
	extra []any
}

func (x extraScan) Scan(dest ...any) error { return x.sc.Scan(append(dest, x.extra...)...) }

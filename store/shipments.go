package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// This file implements the shipment registry of dispatcher.Store: the
// registered shipments, their references, and the events kept unresolved.

const shipmentColumns = `id, mode, origin, destination, carrier, refs, parties, created_at, updated_at`

// lookupBatch is how many references, or ids, one look-up statement
// carries: 2,000 parameters at most.
const lookupBatch = 1000

func scanShipment(sc scanner) (dispatcher.RegisteredShipment, error) {
	var (
		s                dispatcher.RegisteredShipment
		refs, parties    string
		created, updated int64
	)
	err := sc.Scan(&s.ID, &s.Mode, &s.Origin, &s.Destination, &s.Carrier, &refs, &parties, &created, &updated)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(refs), &s.References); err != nil {
		return s, fmt.Errorf("shipment %s: decode references: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(parties), &s.Parties); err != nil {
		return s, fmt.Errorf("shipment %s: decode parties: %w", s.ID, err)
	}
	s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
	return s, nil
}

// PutShipment stores s whole, in one transaction: its attributes,
// references and parties replace those registered. CreatedAt is kept from
// the shipment registered, if any, else now; UpdatedAt is now. Returns the
// shipment as stored and whether it was new.
func (s *Store) PutShipment(ctx context.Context, sh dispatcher.RegisteredShipment) (_ dispatcher.RegisteredShipment, created bool, err error) {
	defer s.unavailable(&err)
	now := time.Now().UTC().Truncate(time.Microsecond)
	sh.CreatedAt, sh.UpdatedAt = now, now
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		old, isNew, err := s.lockShipment(ctx, tx, sh.ID, now)
		if err != nil {
			return err
		}
		sh.CreatedAt, created = old.CreatedAt, isNew
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM shipment_references WHERE shipment_id = ?`), sh.ID); err != nil {
			return fmt.Errorf("delete references of shipment %s: %w", sh.ID, err)
		}
		return s.writeShipment(ctx, tx, sh)
	})
	if err != nil {
		return dispatcher.RegisteredShipment{}, false, err
	}
	return sh, created, nil
}

// lockShipment registers the shipment id, empty, unless it is, and reads
// it in tx, locking its row in PostgreSQL until tx ends: concurrent writes
// of one shipment, each of which reads it first, then follow one another,
// and none loses what another added (SQLite runs one write transaction at
// a time). created is whether it was not registered before.
func (s *Store) lockShipment(ctx context.Context, tx *sql.Tx, id string, now time.Time) (_ dispatcher.RegisteredShipment, created bool, err error) {
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO shipments (id, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
		id, micros(now), micros(now))
	if err != nil {
		return dispatcher.RegisteredShipment{}, false, fmt.Errorf("register shipment %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dispatcher.RegisteredShipment{}, false, err
	}
	query := `SELECT ` + shipmentColumns + ` FROM shipments WHERE id = ?`
	if s.d.name == postgres.name {
		query += ` FOR UPDATE`
	}
	sh, err := scanShipment(tx.QueryRowContext(ctx, s.q(query), id))
	if err != nil {
		return sh, false, fmt.Errorf("read shipment %s: %w", id, err)
	}
	return sh, n == 1, nil
}

// writeShipment upserts sh's row and adds its references.
func (s *Store) writeShipment(ctx context.Context, tx *sql.Tx, sh dispatcher.RegisteredShipment) error {
	refs, err := json.Marshal(sh.References)
	if err != nil {
		return err
	}
	if sh.Parties == nil {
		sh.Parties = []dispatcher.Party{}
	}
	parties, err := json.Marshal(sh.Parties)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO shipments (`+shipmentColumns+`) VALUES (`+placeholders(9)+`)
		ON CONFLICT (id) DO UPDATE SET mode = excluded.mode, origin = excluded.origin, destination = excluded.destination,
		carrier = excluded.carrier, refs = excluded.refs, parties = excluded.parties, updated_at = excluded.updated_at`),
		sh.ID, sh.Mode, sh.Origin, sh.Destination, sh.Carrier, string(refs), string(parties), micros(sh.CreatedAt), micros(sh.UpdatedAt))
	if err != nil {
		return fmt.Errorf("store shipment %s: %w", sh.ID, err)
	}
	for _, r := range sh.References.List() {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO shipment_references (value, kind, shipment_id) VALUES (?, ?, ?)
			ON CONFLICT DO NOTHING`), r.Value, r.Kind, sh.ID)
		if err != nil {
			return fmt.Errorf("store reference of shipment %s: %w", sh.ID, err)
		}
	}
	return nil
}

// MergeShipments registers what events say of their shipments, in one
// transaction, in order: a shipment not registered is stored as given;
// for one registered, the attributes given replace its own, references
// and parties are added (a party registered keeps its role), nothing is
// removed. Concurrent calls for one shipment follow one another
// (lockShipment).
func (s *Store) MergeShipments(ctx context.Context, list []dispatcher.RegisteredShipment) (err error) {
	defer s.unavailable(&err)
	now := time.Now().UTC().Truncate(time.Microsecond)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, sh := range list {
			old, _, err := s.lockShipment(ctx, tx, sh.ID, now)
			if err != nil {
				return err
			}
			if err := s.writeShipment(ctx, tx, dispatcher.Merged(old, sh, now)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Shipment returns ErrNotFound.
func (s *Store) Shipment(ctx context.Context, id string) (_ dispatcher.RegisteredShipment, err error) {
	defer s.unavailable(&err)
	sh, err := scanShipment(s.db.QueryRowContext(ctx, s.q(`SELECT `+shipmentColumns+` FROM shipments WHERE id = ?`), id))
	if err != nil {
		return dispatcher.RegisteredShipment{}, notFound(err, "shipment "+id)
	}
	return sh, nil
}

// ShipmentsByReference returns the shipments that have a reference of any
// kind with this value, by id: one range of shipment_references' key.
func (s *Store) ShipmentsByReference(ctx context.Context, value string) (_ []dispatcher.RegisteredShipment, err error) {
	defer s.unavailable(&err)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+shipmentColumns+` FROM shipments
		WHERE id IN (SELECT shipment_id FROM shipment_references WHERE value = ?) ORDER BY id`), value)
	if err != nil {
		return nil, fmt.Errorf("find shipments by reference: %w", err)
	}
	return collect(rows, scanShipment, "find shipments by reference")
}

// LookupShipments returns the registered shipments among ids and, for
// each of refs, the ids of the shipments that have it, in id order: a
// descent of shipment_references' key per reference, then of shipments'
// per shipment found, a statement for up to lookupBatch of each. Calls
// made at the same time are batched (lookUpTogether): the answer may hold
// more than was asked, and is shared, to be read only.
func (s *Store) LookupShipments(ctx context.Context, ids []string, refs []subscriptions.Reference) (_ dispatcher.ShipmentLookup, err error) {
	defer s.unavailable(&err)
	return s.lookups.do(ctx, lookup{ids: ids, refs: refs})
}

// lookup is one LookupShipments call.
type lookup struct {
	ids  []string
	refs []subscriptions.Reference
}

// lookUpTogether runs the LookupShipments calls of a batch as one, for
// the union of their ids and references, and gives each the whole answer:
// one event posted on its own costs a share of a statement, as its insert
// does.
func (s *Store) lookUpTogether(ctx context.Context, calls []lookup) []batchResult[dispatcher.ShipmentLookup] {
	var ids []string
	var refs []subscriptions.Reference
	seenID, seenRef := map[string]bool{}, map[subscriptions.Reference]bool{}
	for _, c := range calls {
		for _, id := range c.ids {
			if !seenID[id] {
				seenID[id] = true
				ids = append(ids, id)
			}
		}
		for _, r := range c.refs {
			if !seenRef[r] {
				seenRef[r] = true
				refs = append(refs, r)
			}
		}
	}
	found, err := s.lookUpNow(ctx, ids, refs)
	out := make([]batchResult[dispatcher.ShipmentLookup], len(calls))
	for i := range out {
		out[i] = batchResult[dispatcher.ShipmentLookup]{res: found, err: err}
	}
	return out
}

// lookUpNow is LookupShipments without batching.
func (s *Store) lookUpNow(ctx context.Context, ids []string, refs []subscriptions.Reference) (dispatcher.ShipmentLookup, error) {
	out := dispatcher.ShipmentLookup{Shipments: map[string]dispatcher.RegisteredShipment{}, ByReference: map[subscriptions.Reference][]string{}}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for start := 0; start < len(refs); start += lookupBatch {
		query, args := referencesQuery(refs[start:min(start+lookupBatch, len(refs))])
		rows, err := s.db.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return out, fmt.Errorf("look up references: %w", err)
		}
		err = eachRow(rows, func(sc scanner) error {
			var r subscriptions.Reference
			var id string
			if err := sc.Scan(&r.Value, &r.Kind, &id); err != nil {
				return err
			}
			out.ByReference[r] = append(out.ByReference[r], id)
			want[id] = true
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("look up references: %w", err)
		}
	}
	all := make([]any, 0, len(want))
	for id := range want {
		all = append(all, id)
	}
	for start := 0; start < len(all); start += lookupBatch {
		batch := all[start:min(start+lookupBatch, len(all))]
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+shipmentColumns+` FROM shipments WHERE id IN (`+placeholders(len(batch))+`)`), batch...)
		if err != nil {
			return out, fmt.Errorf("look up shipments: %w", err)
		}
		found, err := collect(rows, scanShipment, "look up shipments")
		if err != nil {
			return out, err
		}
		for _, sh := range found {
			out.Shipments[sh.ID] = sh
		}
	}
	return out, nil
}

// referencesQuery returns the statement that finds the shipments of refs,
// and its arguments: a descent of shipment_references' primary key
// (value, kind, shipment_id) per reference.
func referencesQuery(refs []subscriptions.Reference) (string, []any) {
	where := make([]string, len(refs))
	args := make([]any, 0, 2*len(refs))
	for i, r := range refs {
		where[i] = "(value = ? AND kind = ?)"
		args = append(args, r.Value, r.Kind)
	}
	return `SELECT value, kind, shipment_id FROM shipment_references WHERE ` + strings.Join(where, " OR ") + ` ORDER BY shipment_id`, args
}

// UnresolvedEvents returns up to limit unresolved events with an id after
// after, in id order (events_unresolved).
func (s *Store) UnresolvedEvents(ctx context.Context, after string, limit int) (_ []dispatcher.Event, err error) {
	defer s.unavailable(&err)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+eventColumns+` FROM events
		WHERE unresolved IS NOT NULL AND id > ? ORDER BY id LIMIT ?`), after, limit)
	if err != nil {
		return nil, fmt.Errorf("find unresolved events: %w", err)
	}
	return collect(rows, scanEvent, "find unresolved events")
}

// ResolveEvents stores, in one transaction, the shipment and parties of
// events resolved since they were stored unresolved, makes them resolved
// and not fanned out, and gives the messages they have their shipment id.
// The source item an event came from, if it is unresolved, becomes
// accepted once none of its events is unresolved. An event no longer
// unresolved is left as it is. Those with a DCSA form join the DCSA
// feeds of their parties. Returns the ids of those it changed.
func (s *Store) ResolveEvents(ctx context.Context, evs []dispatcher.Event) (_ []string, err error) {
	defer s.unavailable(&err)
	var ids []string
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var feed []any
		now := time.Now()
		for _, e := range evs {
			shipment, err := json.Marshal(e.Shipment)
			if err != nil {
				return err
			}
			parties, err := json.Marshal(e.Parties)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, s.q(`UPDATE events SET shipment = ?, shipment_id = ?, parties = ?, unresolved = NULL,
				fanned_out_at = NULL WHERE id = ? AND unresolved IS NOT NULL`), string(shipment), e.Shipment.ID, string(parties), e.ID)
			if err != nil {
				return fmt.Errorf("resolve event %s: %w", e.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				continue
			}
			// The messages it had, to partners with access all, are of
			// the shipment now too (ListMessages by shipment).
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE messages SET shipment_id = ? WHERE event_id = ?`), e.Shipment.ID, e.ID); err != nil {
				return fmt.Errorf("resolve the messages of event %s: %w", e.ID, err)
			}
			if _, err := tx.ExecContext(ctx, s.q(resolveItemQuery(s.d)), e.ID); err != nil {
				return fmt.Errorf("resolve the source item of event %s: %w", e.ID, err)
			}
			ids = append(ids, e.ID)
			// Its parties known at last, it joins their DCSA feeds.
			feed = feedArgs(feed, e, now)
		}
		return s.addToFeed(ctx, tx, feed)
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// resolveItemQuery is the statement, in the dialect d, that makes the
// unresolved source item of the event it is given accepted, if none of
// the item's events (event_ids, each read by the events' primary key) is
// unresolved any more.
func resolveItemQuery(d dialect) string {
	return `UPDATE source_items SET status = '` + string(dispatcher.ItemAccepted) + `'
		WHERE id = (SELECT source_item_id FROM events WHERE id = ?) AND status = '` + string(dispatcher.ItemUnresolved) + `'
		AND NOT EXISTS (SELECT 1 FROM events o WHERE o.unresolved IS NOT NULL
			AND o.id IN (` + d.jsonStrings("source_items.event_ids") + `))`
}

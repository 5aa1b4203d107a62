package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

// This file keeps sources and the items of their payloads. A DCSA
// source's secret is sealed by the keyring, bound to the source.

const sourceColumns = `id, name, format, mapping, secret, created_at, updated_at`

// sourceSecretAt is the place a source's sealed secret is bound to.
func sourceSecretAt(id string) string { return "source " + id + " secret" }

// sourceArgs returns the column values of src, its secret sealed.
func (s *Store) sourceArgs(src sources.Source) ([]any, error) {
	mapping := ""
	if src.Mapping != nil {
		b, err := json.Marshal(src.Mapping)
		if err != nil {
			return nil, fmt.Errorf("source %s: encode mapping: %w", src.ID, err)
		}
		mapping = string(b)
	}
	return []any{src.ID, src.Name, string(src.Format), mapping, s.keys.seal(src.Secret, sourceSecretAt(src.ID)),
		micros(src.CreatedAt), micros(src.UpdatedAt)}, nil
}

// CreateSource stores src. Returns ErrConflict if its id is taken.
func (s *Store) CreateSource(ctx context.Context, src sources.Source) (err error) {
	defer s.unavailable(&err)
	args, err := s.sourceArgs(src)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO sources (`+sourceColumns+`) VALUES (`+placeholders(7)+`)`), args...)
	if err != nil {
		return s.classify(err, "source "+src.ID)
	}
	return nil
}

// scanSource scans a source row and opens its secret.
func (s *Store) scanSource(sc scanner) (sources.Source, error) {
	var (
		src              sources.Source
		format, mapping  string
		secret           string
		created, updated int64
	)
	if err := sc.Scan(&src.ID, &src.Name, &format, &mapping, &secret, &created, &updated); err != nil {
		return src, err
	}
	src.Format, src.CreatedAt, src.UpdatedAt = sources.Format(format), fromMicros(created), fromMicros(updated)
	if mapping != "" {
		src.Mapping = &sources.MappingSpec{}
		if err := json.Unmarshal([]byte(mapping), src.Mapping); err != nil {
			return src, fmt.Errorf("source %s: decode mapping: %w", src.ID, err)
		}
	}
	plain, err := s.keys.open(secret, sourceSecretAt(src.ID))
	if err != nil {
		return src, fmt.Errorf("source %s secret: %w", src.ID, err)
	}
	src.Secret = plain
	return src, nil
}

// Source returns ErrNotFound if the source does not exist.
func (s *Store) Source(ctx context.Context, id string) (_ sources.Source, err error) {
	defer s.unavailable(&err)
	src, err := s.scanSource(s.db.QueryRowContext(ctx, s.q(`SELECT `+sourceColumns+` FROM sources WHERE id = ?`), id))
	if err != nil {
		return sources.Source{}, notFound(err, "source "+id)
	}
	return src, nil
}

// ListSources returns at most page.Limit (default 50) sources ordered by
// id, after page.After.
func (s *Store) ListSources(ctx context.Context, page subscriptions.Page) (_ []sources.Source, err error) {
	defer s.unavailable(&err)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+sourceColumns+` FROM sources WHERE id > ? ORDER BY id LIMIT ?`),
		page.After, limitOf(page.Limit))
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	return collect(rows, s.scanSource, "list sources")
}

// UpdateSource saves every field of src but its format and CreatedAt.
// Returns ErrNotFound.
func (s *Store) UpdateSource(ctx context.Context, src sources.Source) (err error) {
	defer s.unavailable(&err)
	args, err := s.sourceArgs(src)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE sources SET name = ?, mapping = ?, secret = ?, updated_at = ? WHERE id = ?`),
		args[1], args[3], args[4], args[6], src.ID)
	if err != nil {
		return fmt.Errorf("update source %s: %w", src.ID, err)
	}
	return mustAffect(res, "source "+src.ID)
}

// DeleteSource deletes the source, its items and the API keys bound to
// it; the events that came from it stay. Returns ErrNotFound.
func (s *Store) DeleteSource(ctx context.Context, id string) (err error) {
	defer s.unavailable(&err)
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM sources WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("delete source %s: %w", id, err)
	}
	return mustAffect(res, "source "+id)
}

const itemColumns = `id, source_id, received_at, status, error, original, event_ids`

// SaveSourceItems stores events as InsertEvents does and items, in one
// transaction; an item whose id exists is replaced but for its original
// and received_at (a replay). Each item's EventIDs are set from the
// results of the events naming it, in order. Returns ErrNotFound if an
// item's source does not exist.
func (s *Store) SaveSourceItems(ctx context.Context, items []dispatcher.SourceItem, events []dispatcher.Event) (_ []dispatcher.Insert, err error) {
	defer s.unavailable(&err)
	events, args, _, err := encodeEvents(events, time.Now())
	if err != nil {
		return nil, err
	}
	var out []dispatcher.Insert
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if len(events) > 0 {
			if out, err = s.insertEvents(ctx, tx, events, args); err != nil {
				return err
			}
		}
		ids := map[string][]string{}
		for j, r := range out {
			ids[events[j].SourceItemID] = append(ids[events[j].SourceItemID], r.ID)
		}
		return s.saveItems(ctx, tx, items, ids)
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []dispatcher.Insert{}
	}
	return out, nil
}

// saveItems stores items, each with its event ids from ids, or replaces
// those whose ids are stored, in one statement.
func (s *Store) saveItems(ctx context.Context, tx *sql.Tx, items []dispatcher.SourceItem, ids map[string][]string) error {
	if len(items) == 0 {
		return nil
	}
	args := make([]any, 0, len(items)*7)
	for _, it := range items {
		eventIDs := ids[it.ID]
		if eventIDs == nil {
			eventIDs = []string{}
		}
		encoded, err := json.Marshal(eventIDs)
		if err != nil {
			return fmt.Errorf("item %s: encode event ids: %w", it.ID, err)
		}
		var itemErr any
		if it.Error != nil {
			b, err := json.Marshal(it.Error)
			if err != nil {
				return fmt.Errorf("item %s: encode error: %w", it.ID, err)
			}
			itemErr = string(b)
		}
		args = append(args, it.ID, it.SourceID, micros(it.ReceivedAt), string(it.Status), itemErr, string(it.Original), string(encoded))
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO source_items (`+itemColumns+`) VALUES `+valueRows(len(items), 7)+`
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, error = excluded.error, event_ids = excluded.event_ids`), args...)
	if err != nil {
		return s.classify(err, fmt.Sprintf("source items %s…", items[0].ID))
	}
	return nil
}

func scanItem(sc scanner) (dispatcher.SourceItem, error) {
	var (
		it               dispatcher.SourceItem
		received         int64
		status, original string
		itemErr          sql.NullString
		ids              string
	)
	if err := sc.Scan(&it.ID, &it.SourceID, &received, &status, &itemErr, &original, &ids); err != nil {
		return it, err
	}
	it.ReceivedAt, it.Status, it.Original = fromMicros(received), dispatcher.ItemStatus(status), json.RawMessage(original)
	if itemErr.Valid {
		it.Error = &dispatcher.ItemError{}
		if err := json.Unmarshal([]byte(itemErr.String), it.Error); err != nil {
			return it, fmt.Errorf("item %s: decode error: %w", it.ID, err)
		}
	}
	if err := json.Unmarshal([]byte(ids), &it.EventIDs); err != nil {
		return it, fmt.Errorf("item %s: decode event ids: %w", it.ID, err)
	}
	return it, nil
}

// SourceItem returns the item with that id. Returns ErrNotFound.
func (s *Store) SourceItem(ctx context.Context, id string) (_ dispatcher.SourceItem, err error) {
	defer s.unavailable(&err)
	it, err := scanItem(s.db.QueryRowContext(ctx, s.q(`SELECT `+itemColumns+` FROM source_items WHERE id = ?`), id))
	if err != nil {
		return it, notFound(err, "source item "+id)
	}
	return it, nil
}

// ListSourceItems returns at most q.Limit (default 50) items of q.SourceID,
// of q.Status if it is not empty, newest (greatest id) first, after
// q.After.
func (s *Store) ListSourceItems(ctx context.Context, q dispatcher.ItemQuery) (_ []dispatcher.SourceItem, err error) {
	defer s.unavailable(&err)
	where, args := []string{"source_id = ?"}, []any{q.SourceID}
	if q.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(q.Status))
	}
	if q.After != "" {
		where, args = append(where, "id < ?"), append(args, q.After)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+itemColumns+` FROM source_items WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT ?`), append(args, limitOf(q.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("list source items: %w", err)
	}
	return collect(rows, scanItem, "list source items")
}

// sourceSecret is a source's id and its secret as stored.
type sourceSecret struct{ id, secret string }

// sourceSecrets reads every source that has a secret. Sources are few (one
// per system that posts): they are read at once.
func (s *Store) sourceSecrets(ctx context.Context) ([]sourceSecret, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, secret FROM sources WHERE secret <> '' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read source secrets: %w", err)
	}
	return collect(rows, func(sc scanner) (sourceSecret, error) {
		var r sourceSecret
		err := sc.Scan(&r.id, &r.secret)
		return r, err
	}, "read source secrets")
}

// checkSources opens every source's secret and counts those Reseal would
// rewrite. Returns an error wrapping ErrCannotOpen, naming the source, at
// the first that no key opens.
func (s *Store) checkSources(ctx context.Context) (n, stale int, err error) {
	secrets, err := s.sourceSecrets(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, r := range secrets {
		if _, err := s.keys.open(r.secret, sourceSecretAt(r.id)); err != nil {
			return n, stale, fmt.Errorf("source %s secret: %w", r.id, err)
		}
		n++
		if !s.keys.current(r.secret) {
			stale++
		}
	}
	return n, stale, nil
}

// resealSources seals every source secret not sealed by the keyring's
// first key with it, writing a source only if its secret is still as it
// was read, and returns how many it rewrote.
func (s *Store) resealSources(ctx context.Context) (int, error) {
	secrets, err := s.sourceSecrets(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range secrets {
		if s.keys.current(r.secret) {
			continue
		}
		plain, err := s.keys.open(r.secret, sourceSecretAt(r.id))
		if err != nil {
			return n, fmt.Errorf("source %s secret: %w", r.id, err)
		}
		res, err := s.db.ExecContext(ctx, s.q(`UPDATE sources SET secret = ? WHERE id = ? AND secret = ?`),
			s.keys.seal(plain, sourceSecretAt(r.id)), r.id, r.secret)
		if err != nil {
			return n, fmt.Errorf("reseal source %s: %w", r.id, err)
		}
		if changed, err := res.RowsAffected(); err == nil && changed > 0 {
			n++
		}
	}
	return n, nil
}

package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/shiphook/shiphook/subscriptions"
)

// This file reads what the API shows beside the ids of a page of a list:
// the endpoints' URLs and descriptions, the partners' names, the error of
// each failed message's last attempt, and how each partner's deliveries
// stand. Each reads the rows of the ids given by primary key or by an
// index on them, in one statement per labelBatch ids, never the whole
// table.

// labelBatch is how many ids one IN list of these reads carries.
const labelBatch = 500

// inBatches calls read with the distinct ids, labelBatch at a time, as
// arguments for an IN list of that many placeholders.
func inBatches(ids []string, read func(in string, args []any) error) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > 0 && ids[0] == "" {
		ids = ids[1:]
	}
	for start := 0; start < len(ids); start += labelBatch {
		batch := ids[start:min(start+labelBatch, len(ids))]
		args := make([]any, len(batch))
		for i, id := range batch {
			args[i] = id
		}
		if err := read(placeholders(len(batch)), args); err != nil {
			return err
		}
	}
	return nil
}

// endpointLabelsQuery and partnerNamesQuery read endpoints' labels and
// partners' names by the ids in their IN lists, by primary key.
const (
	endpointLabelsQuery = `SELECT id, partner_id, kind, url, description FROM endpoints WHERE id IN (%s)`
	partnerNamesQuery   = `SELECT id, name FROM partners WHERE id IN (%s)`
)

// EndpointLabels returns the labels of the endpoints ids names, by id. An
// id of an endpoint that does not exist (one deleted) is left out.
func (s *Store) EndpointLabels(ctx context.Context, ids []string) (_ map[string]subscriptions.EndpointLabel, err error) {
	defer s.unavailable(&err)
	out := map[string]subscriptions.EndpointLabel{}
	err = inBatches(ids, func(in string, args []any) error {
		rows, err := s.db.QueryContext(ctx, s.q(fmt.Sprintf(endpointLabelsQuery, in)), args...)
		if err != nil {
			return err
		}
		return eachRow(rows, func(sc scanner) error {
			var (
				l    subscriptions.EndpointLabel
				kind string
			)
			if err := sc.Scan(&l.ID, &l.PartnerID, &kind, &l.URL, &l.Description); err != nil {
				return err
			}
			l.Kind = subscriptions.EndpointKind(kind)
			out[l.ID] = l
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("endpoint labels: %w", err)
	}
	return out, nil
}

// PartnerNames returns the names of the partners ids names, by id. An id
// of a partner that does not exist (one deleted) is left out.
func (s *Store) PartnerNames(ctx context.Context, ids []string) (_ map[string]string, err error) {
	defer s.unavailable(&err)
	out := map[string]string{}
	err = inBatches(ids, func(in string, args []any) error {
		rows, err := s.db.QueryContext(ctx, s.q(fmt.Sprintf(partnerNamesQuery, in)), args...)
		if err != nil {
			return err
		}
		return eachRow(rows, func(sc scanner) error {
			var id, name string
			if err := sc.Scan(&id, &name); err != nil {
				return err
			}
			out[id] = name
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("partner names: %w", err)
	}
	return out, nil
}

// lastErrorsQuery reads every attempt of the messages in the IN list
// (through attempts_message), a few each. It does not repeat the
// condition of the partial indexes of failures: SQLite would read one of
// those whole rather than attempts_message.
const lastErrorsQuery = `SELECT message_id, number, error_class, error FROM attempts WHERE message_id IN (%s)`

// LastErrors returns, by message id, the error of the last attempt of
// each message messageIDs names whose last attempt failed with an error
// text; other messages are left out.
func (s *Store) LastErrors(ctx context.Context, messageIDs []string) (_ map[string]string, err error) {
	defer s.unavailable(&err)
	type last struct {
		number      int
		class, text string
	}
	lasts := map[string]last{}
	err = inBatches(messageIDs, func(in string, args []any) error {
		rows, err := s.db.QueryContext(ctx, s.q(fmt.Sprintf(lastErrorsQuery, in)), args...)
		if err != nil {
			return err
		}
		return eachRow(rows, func(sc scanner) error {
			var mid string
			var a last
			if err := sc.Scan(&mid, &a.number, &a.class, &a.text); err != nil {
				return err
			}
			if a.number > lasts[mid].number {
				lasts[mid] = a
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("last errors: %w", err)
	}
	out := map[string]string{}
	for mid, a := range lasts {
		if a.class != "" && a.text != "" {
			out[mid] = a.text
		}
	}
	return out, nil
}

// oldestPendingQuery finds, for each partner with messages not yet
// delivered, when the oldest of them was created. Each branch reads a
// partial index that holds only such messages, whole: messages_due the
// pending ones (pull messages not yet read too), messages_held those held
// behind an open breaker (its predicate repeated, so that both databases
// take it), messages_leases those being delivered. It reads as many rows
// as the backlog holds, and none of the messages delivered or ended.
const oldestPendingQuery = `SELECT partner_id, MIN(created_at) FROM (
		SELECT partner_id, created_at FROM messages WHERE status = 'pending'
		UNION ALL SELECT partner_id, created_at FROM messages WHERE (status = 'held') IS TRUE
		UNION ALL SELECT partner_id, created_at FROM messages WHERE status = 'delivering'
	) undelivered GROUP BY partner_id`

// endpointCountsQuery counts the endpoints of the partners in the IN list,
// those failing and those disabled, through endpoints_partner.
const endpointCountsQuery = `SELECT partner_id, COUNT(*),
		COALESCE(SUM(CASE WHEN failing_since IS NOT NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN disabled THEN 1 ELSE 0 END), 0)
	FROM endpoints WHERE partner_id IN (%s) GROUP BY partner_id`

// PartnersHealth returns how the deliveries of the partners ids names
// stand, by id, every one of them included (zeros for a partner without
// endpoints or one that does not exist). BreakersOpen is left at zero: the
// breakers are not in the database. It reads the partners' endpoints, and
// every message not yet delivered (see oldestPendingQuery).
func (s *Store) PartnersHealth(ctx context.Context, ids []string) (_ map[string]subscriptions.PartnerHealth, err error) {
	defer s.unavailable(&err)
	out := make(map[string]subscriptions.PartnerHealth, len(ids))
	for _, id := range ids {
		out[id] = subscriptions.PartnerHealth{}
	}
	err = inBatches(ids, func(in string, args []any) error {
		rows, err := s.db.QueryContext(ctx, s.q(fmt.Sprintf(endpointCountsQuery, in)), args...)
		if err != nil {
			return err
		}
		return eachRow(rows, func(sc scanner) error {
			var (
				id string
				h  subscriptions.PartnerHealth
			)
			if err := sc.Scan(&id, &h.Endpoints, &h.EndpointsFailing, &h.EndpointsDisabled); err != nil {
				return err
			}
			out[id] = h
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("endpoints of partners: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, s.q(oldestPendingQuery))
	if err != nil {
		return nil, fmt.Errorf("oldest pending messages: %w", err)
	}
	err = eachRow(rows, func(sc scanner) error {
		var (
			id     string
			oldest sql.NullInt64
		)
		if err := sc.Scan(&id, &oldest); err != nil {
			return err
		}
		if h, ok := out[id]; ok {
			h.OldestPendingAt = timePtr(oldest)
			out[id] = h
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("oldest pending messages: %w", err)
	}
	return out, nil
}

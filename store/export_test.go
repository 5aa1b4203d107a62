package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// SetAllEndpointsBatch makes AllEndpoints read n partners at a time, so that
// tests cross batch boundaries with few rows.
func SetAllEndpointsBatch(s *Store, n int) { s.allEndpointsBatch = n }

// SetEventsBatch makes MessagesOfEvents read n events at a time.
func SetEventsBatch(s *Store, n int) { s.eventsBatch = n }

// MessagesPlan returns how SQLite runs the query of ListMessages for q: the
// details of EXPLAIN QUERY PLAN, joined by "; ".
func MessagesPlan(ctx context.Context, s *Store, q dispatcher.MessageQuery) (string, error) {
	query, args := listMessagesQuery(q)
	return sqlitePlan(ctx, s, query, args)
}

// AttemptsPlan returns how SQLite runs the query of SearchAttempts for q,
// as MessagesPlan does.
func AttemptsPlan(ctx context.Context, s *Store, q dispatcher.AttemptQuery) (string, error) {
	query, args := searchAttemptsQuery(q)
	return sqlitePlan(ctx, s, query, args)
}

func sqlitePlan(ctx context.Context, s *Store, query string, args []any) (string, error) {
	if s.d.name != sqliteDialect.name {
		return "", fmt.Errorf("query plans are checked on sqlite, not %s", s.d.name)
	}
	rows, err := s.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var details []string
	for rows.Next() {
		var (
			id, parent, unused int
			detail             string
		)
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		details = append(details, detail)
	}
	return strings.Join(details, "; "), rows.Err()
}

// ClaimBatch makes the claims as one batch, as ClaimMessage calls made at
// the same moment would be.
func ClaimBatch(ctx context.Context, s *Store, ids []string, attempts []int, leaseUntil time.Time) ([]dispatcher.Message, []bool, []error) {
	out := s.claimBatch(ctx, claims(ids, attempts, leaseUntil))
	ms, oks, errs := make([]dispatcher.Message, len(out)), make([]bool, len(out)), make([]error, len(out))
	for i, o := range out {
		ms[i], oks[i], errs[i] = o.res.m, o.res.ok, o.err
	}
	return ms, oks, errs
}

// RecordBatch records the attempts as one batch, as RecordAttempt calls
// made at the same moment would be.
func RecordBatch(ctx context.Context, s *Store, as []dispatcher.Attempt, os []dispatcher.Outcome) []error {
	args := make([]record, len(as))
	for i, a := range as {
		args[i] = record{a: a, o: os[i], headers: "{}"}
	}
	out := s.recordBatch(ctx, args)
	errs := make([]error, len(out))
	for i, o := range out {
		errs[i] = o.err
	}
	return errs
}

// InsertEventBatch stores single events as one batch, as InsertEvents
// calls made at the same moment would be.
func InsertEventBatch(ctx context.Context, s *Store, events []dispatcher.Event) ([]dispatcher.Insert, []error) {
	out := s.insertEventBatch(ctx, events)
	ins, errs := make([]dispatcher.Insert, len(out)), make([]error, len(out))
	for i, o := range out {
		ins[i], errs[i] = o.res, o.err
	}
	return ins, errs
}

// ClaimMany runs a batch of claims without the fallback to one claim at a
// time, and returns the ids claimed.
func ClaimMany(ctx context.Context, s *Store, ids []string, attempts []int, leaseUntil time.Time) ([]string, error) {
	won, err := s.claimMany(ctx, claims(ids, attempts, leaseUntil))
	var out []string
	for _, m := range won {
		out = append(out, m.ID)
	}
	return out, err
}

// RecordMany runs a batch of attempt records without the fallback to one
// record at a time, and returns the ids of the messages found.
func RecordMany(ctx context.Context, s *Store, as []dispatcher.Attempt, os []dispatcher.Outcome) (map[string]bool, error) {
	batch := make([]record, len(as))
	for i, a := range as {
		batch[i] = record{a: a, o: os[i], headers: "{}"}
	}
	stored, err := s.recordMany(ctx, batch)
	found := make(map[string]bool, len(stored))
	for _, r := range batch {
		if _, ok := stored[r.a.ID]; ok {
			found[r.a.MessageID] = true
		}
	}
	return found, err
}

// FanOutBatch makes first fan-outs of events as one batch, as FanOut calls
// made at the same moment would be (PostgreSQL): each one's pending
// messages, whether it fanned its event out first, and its error.
func FanOutBatch(ctx context.Context, s *Store, events []string, msgs [][]dispatcher.Message) ([][]dispatcher.Message, []bool, []error) {
	out := s.fanOutBatch(ctx, fanouts(events, msgs))
	pending, firsts, errs := make([][]dispatcher.Message, len(out)), make([]bool, len(out)), make([]error, len(out))
	for i, o := range out {
		pending[i], firsts[i], errs[i] = o.res.pending, o.res.first, o.err
	}
	return pending, firsts, errs
}

// FanOutMany runs a batch of first fan-outs without the fallback to one
// at a time, and returns whether each fanned its event out first.
func FanOutMany(ctx context.Context, s *Store, events []string, msgs [][]dispatcher.Message) ([]bool, error) {
	out, err := s.fanOutMany(ctx, fanouts(events, msgs))
	firsts := make([]bool, len(out))
	for i, o := range out {
		firsts[i] = o.first
	}
	return firsts, err
}

func fanouts(events []string, msgs [][]dispatcher.Message) []fanout {
	args := make([]fanout, len(events))
	for i, id := range events {
		args[i] = fanout{eventID: id, msgs: msgs[i], now: time.Now()}
	}
	return args
}

// MarkFirstPlan returns how PostgreSQL plans FanOut's marking of event id
// as fanned out: the lines of EXPLAIN, joined by "; ".
func MarkFirstPlan(ctx context.Context, s *Store, id string) (string, error) {
	if s.d.name != postgres.name {
		return "", fmt.Errorf("this plan is checked on postgres, not %s", s.d.name)
	}
	return postgresPlan(ctx, s, "EXPLAIN", markFirstQuery, []any{micros(time.Now()), id}, false)
}

// Analyze takes fresh statistics of the tables, as autovacuum would.
func Analyze(ctx context.Context, s *Store) error {
	_, err := s.db.ExecContext(ctx, "ANALYZE")
	return err
}

// DeferBatch makes the deferrals as one batch, as DeferMessage calls made
// at the same moment would be: whether each moved its message, and its
// error.
func DeferBatch(ctx context.Context, s *Store, ids []string, attempts []int, at time.Time) ([]bool, []error) {
	out := s.deferBatch(ctx, deferrals(ids, attempts, at))
	moved, errs := make([]bool, len(out)), make([]error, len(out))
	for i, o := range out {
		moved[i], errs[i] = o.res, o.err
	}
	return moved, errs
}

// DeferMany runs a batch of deferrals without the fallback to one at a
// time.
func DeferMany(ctx context.Context, s *Store, ids []string, attempts []int, at time.Time) ([]bool, error) {
	return s.deferMany(ctx, deferrals(ids, attempts, at))
}

// HoldBatch makes holds, where hold[i], and deferrals to at, elsewhere, as
// one batch, as HoldMessage and DeferMessage calls made at the same moment
// would be: whether each moved its message, and its error.
func HoldBatch(ctx context.Context, s *Store, ids []string, attempts []int, hold []bool, at time.Time) ([]bool, []error) {
	out := s.deferBatch(ctx, holds(ids, attempts, hold, at))
	moved, errs := make([]bool, len(out)), make([]error, len(out))
	for i, o := range out {
		moved[i], errs[i] = o.res, o.err
	}
	return moved, errs
}

// HoldMany runs a batch of holds and deferrals without the fallback to one
// at a time.
func HoldMany(ctx context.Context, s *Store, ids []string, attempts []int, hold []bool, at time.Time) ([]bool, error) {
	return s.deferMany(ctx, holds(ids, attempts, hold, at))
}

// HeldEndpointsPlan returns how the database runs HeldEndpoints: on
// SQLite the details of EXPLAIN QUERY PLAN, on PostgreSQL the lines of
// EXPLAIN ANALYZE (plain EXPLAIN leaves out the plan of the recursive
// step's subquery), joined by "; ".
func HeldEndpointsPlan(ctx context.Context, s *Store) (string, error) {
	if s.d.name == sqliteDialect.name {
		return sqlitePlan(ctx, s, heldEndpointsQuery, nil)
	}
	return postgresPlan(ctx, s, "EXPLAIN (ANALYZE)", heldEndpointsQuery, nil, false)
}

// WakeHeldPlan returns how the database runs WakeHeld's statement for an
// endpoint after the id after: on SQLite the details of EXPLAIN QUERY
// PLAN, on PostgreSQL the lines of EXPLAIN, joined by "; ". On PostgreSQL,
// generic asks for the generic plan, which cannot see the parameters (the
// plan a prepared statement ends up on), rather than the plan for these
// values.
func WakeHeldPlan(ctx context.Context, s *Store, endpointID, after string, generic bool) (string, error) {
	args := []any{int64(0), int64(0), endpointID, after, endpointID, 50}
	if s.d.name == sqliteDialect.name {
		return sqlitePlan(ctx, s, wakeHeldQuery(s.d), args)
	}
	return postgresPlan(ctx, s, "EXPLAIN", wakeHeldQuery(s.d), args, generic)
}

// postgresPlan returns the lines that explain (EXPLAIN and its options)
// gives for query with args, joined by "; ": of the generic plan if
// generic is set. It runs in a transaction that it rolls back.
func postgresPlan(ctx context.Context, s *Store, explain, query string, args []any, generic bool) (string, error) {
	// PREPARE outlives the transaction: the statement is dropped from the
	// connection afterwards.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer func() {
		_ = tx.Rollback()
		if generic {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DEALLOCATE plan_check")
		}
	}()
	stmt := explain + " " + s.q(query)
	if generic {
		values := make([]string, len(args))
		for i, a := range args {
			if v, ok := a.(string); ok {
				values[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
				continue
			}
			values[i] = fmt.Sprint(a)
		}
		for _, stmt := range []string{
			"SET LOCAL plan_cache_mode = force_generic_plan",
			"PREPARE plan_check AS " + s.q(query),
		} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return "", err
			}
		}
		stmt, args = explain+" EXECUTE plan_check("+strings.Join(values, ", ")+")", nil
	}
	rows, err := tx.QueryContext(ctx, stmt, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		lines = append(lines, strings.TrimSpace(line))
	}
	return strings.Join(lines, "; "), rows.Err()
}

func claims(ids []string, attempts []int, leaseUntil time.Time) []claim {
	args := make([]claim, len(ids))
	for i, id := range ids {
		args[i] = claim{id: id, attempts: attempts[i], leaseUntil: leaseUntil}
	}
	return args
}

func deferrals(ids []string, attempts []int, at time.Time) []deferral {
	args := make([]deferral, len(ids))
	for i, id := range ids {
		args[i] = deferral{id: id, attempts: attempts[i], at: at}
	}
	return args
}

func holds(ids []string, attempts []int, hold []bool, at time.Time) []deferral {
	args := deferrals(ids, attempts, at)
	for i := range args {
		args[i].hold = hold[i]
	}
	return args
}

// SetSealedBatch makes CheckSealed and Reseal read n endpoints at a time.
func SetSealedBatch(s *Store, n int) { s.sealedBatch = n }

// SealedColumns returns the secret, previous_secret and options columns of
// endpoint id as the database holds them.
func SealedColumns(ctx context.Context, s *Store, id string) (secret, prevSecret, options string, err error) {
	err = s.db.QueryRowContext(ctx, s.q(`SELECT secret, previous_secret, options FROM endpoints WHERE id = ?`), id).
		Scan(&secret, &prevSecret, &options)
	return secret, prevSecret, options, err
}

// SetSealedColumns writes the secret, previous_secret and options columns
// of endpoint id as they are given.
func SetSealedColumns(ctx context.Context, s *Store, id, secret, prevSecret, options string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE endpoints SET secret = ?, previous_secret = ?, options = ? WHERE id = ?`),
		secret, prevSecret, options, id)
	return err
}

// SealValue and OpenValue are the keyring's seal and open.
func SealValue(k *Keyring, plain, where string) string { return k.seal(plain, where) }

func OpenValue(k *Keyring, stored, where string) (string, error) { return k.open(stored, where) }

// SourceSecretColumn returns the secret column of source id, as stored.
func SourceSecretColumn(ctx context.Context, s *Store, id string) (string, error) {
	var secret string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT secret FROM sources WHERE id = ?`), id).Scan(&secret)
	return secret, err
}

// ReferencesPlan returns how the database runs LookupShipments' look-up of
// refs: the details of EXPLAIN QUERY PLAN (SQLite) or the lines of
// EXPLAIN (PostgreSQL), joined by "; ".
func ReferencesPlan(ctx context.Context, s *Store, refs []subscriptions.Reference) (string, error) {
	query, args := referencesQuery(refs)
	if s.d.name == sqliteDialect.name {
		return sqlitePlan(ctx, s, query, args)
	}
	return postgresPlan(ctx, s, "EXPLAIN", query, args, false)
}

// Exec runs a statement on s's database, for tests that fill it fast.
func Exec(ctx context.Context, s *Store, query string) error {
	_, err := s.db.ExecContext(ctx, query)
	return err
}

// DCSAFeedPlan returns how the database runs ListDCSAFeed for q: on
// SQLite the details of EXPLAIN QUERY PLAN, on PostgreSQL the lines of
// EXPLAIN, joined by "; ".
func DCSAFeedPlan(ctx context.Context, s *Store, q dispatcher.DCSAFeedQuery) (string, error) {
	query, args := dcsaFeedQuery(q)
	if s.d.name == sqliteDialect.name {
		return sqlitePlan(ctx, s, query, args)
	}
	return postgresPlan(ctx, s, "EXPLAIN", query, args, false)
}

// OrderedPlans returns how the database runs FanOut's check for earlier
// events of a shipment not fanned out, and the promotion of a queue's
// next message: on SQLite the details of EXPLAIN QUERY PLAN, on
// PostgreSQL the lines of EXPLAIN (of the generic plan if generic is
// set), joined by "; ".
func OrderedPlans(ctx context.Context, s *Store, eventID, shipmentID string, generic bool) (earlier, promote string, err error) {
	earlierArgs := []any{shipmentID, eventID}
	promoteArgs := []any{"pending", int64(0), int64(0), int64(0), "ep1", shipmentID, int64(2)}
	plan := func(query string, args []any) (string, error) {
		if s.d.name == sqliteDialect.name {
			return sqlitePlan(ctx, s, query, args)
		}
		return postgresPlan(ctx, s, "EXPLAIN", query, args, generic)
	}
	if earlier, err = plan(earlierUnfannedQuery, earlierArgs); err != nil {
		return "", "", err
	}
	promote, err = plan(promoteQuery, promoteArgs)
	return earlier, promote, err
}

// plannedQuery is a query and its arguments, whose plan plansOf reads.
type plannedQuery struct {
	query string
	args  []any
}

// plansOf returns how the database runs queries, by name: on SQLite the
// details of EXPLAIN QUERY PLAN, on PostgreSQL the lines of EXPLAIN,
// joined by "; ".
func plansOf(ctx context.Context, s *Store, queries map[string]plannedQuery) (map[string]string, error) {
	plans := map[string]string{}
	for name, q := range queries {
		var (
			plan string
			err  error
		)
		if s.d.name == sqliteDialect.name {
			plan, err = sqlitePlan(ctx, s, s.q(q.query), q.args)
		} else {
			plan, err = postgresPlan(ctx, s, "EXPLAIN", q.query, q.args, false)
		}
		if err != nil {
			return nil, fmt.Errorf("plan of %s: %w", name, err)
		}
		plans[name] = plan
	}
	return plans, nil
}

// FeedPlans returns how the database runs the queries of a read of
// endpoint ep's feed and of its health, by name: on SQLite the details of
// EXPLAIN QUERY PLAN, on PostgreSQL the lines of EXPLAIN, joined by "; ".
func FeedPlans(ctx context.Context, s *Store, ep string) (map[string]string, error) {
	queries := map[string]plannedQuery{
		"acknowledge": {feedAckQuery, []any{int64(1), ep, int64(10), int64(20)}},
		"number":      {feedUnnumberedQuery, []any{ep, int64(200), 100}},
		"page":        {feedPageQuery, []any{ep, int64(10), 100}},
		"unread":      {feedUnreadQuery, []any{ep}},
	}
	return plansOf(ctx, s, queries)
}

// UnfannedShipmentsPlan returns the lines of PostgreSQL's EXPLAIN, joined
// by "; ", of InsertEvents' look for the shipments, of those given, that
// have an event not fanned out.
func UnfannedShipmentsPlan(ctx context.Context, s *Store, shipments []string) (string, error) {
	return postgresPlan(ctx, s, "EXPLAIN", unfannedShipmentsQuery, []any{shipments}, false)
}

// BacklogPlan returns how SQLite runs the query of Backlog, as
// MessagesPlan does.
func BacklogPlan(ctx context.Context, s *Store) (string, error) {
	c := dispatcher.BacklogCap
	return sqlitePlan(ctx, s, backlogQuery, []any{c, c, c, c})
}

// LabelPlans returns how the database runs the reads of labels.go, by
// name, for a few ids: on SQLite the details of EXPLAIN QUERY PLAN, on
// PostgreSQL the lines of EXPLAIN, joined by "; ".
func LabelPlans(ctx context.Context, s *Store, endpointIDs, partnerIDs, messageIDs []string) (map[string]string, error) {
	in := func(ids []string) (string, []any) {
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		return placeholders(len(ids)), args
	}
	eps, epArgs := in(endpointIDs)
	ps, pArgs := in(partnerIDs)
	ms, mArgs := in(messageIDs)
	queries := map[string]plannedQuery{
		"endpoints":      {fmt.Sprintf(endpointLabelsQuery, eps), epArgs},
		"partners":       {fmt.Sprintf(partnerNamesQuery, ps), pArgs},
		"last errors":    {fmt.Sprintf(lastErrorsQuery, ms), mArgs},
		"endpoint count": {fmt.Sprintf(endpointCountsQuery, ps), pArgs},
		"oldest pending": {oldestPendingQuery, nil},
	}
	return plansOf(ctx, s, queries)
}

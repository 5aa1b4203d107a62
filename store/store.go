// Package store keeps shiphook's records in PostgreSQL or SQLite. One
// *Store serves both subscriptions.Store and dispatcher.Store; the same
// queries run on both databases.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

var (
	_ subscriptions.Store = (*Store)(nil)
	_ dispatcher.Store    = (*Store)(nil)
)

// Pool sizes. PostgreSQL gets enough connections for the API and the
// delivery workers of one process, all kept open: with fewer idle than open,
// a busy process closes and reopens connections all the time, and each new
// one costs PostgreSQL a process. SQLite has one writer at a time, so a few
// connections serve its readers and the writers queue on busy_timeout.
const (
	postgresMaxOpen = 32
	postgresMaxIdle = postgresMaxOpen
	sqliteMaxOpen   = 8
	// sqliteBusyTimeout is how long a writer waits for the write lock.
	sqliteBusyTimeout = 10 * time.Second
)

// Store is a database holding partners, endpoints, API keys, events,
// messages and attempts. It is safe for concurrent use.
type Store struct {
	db *sql.DB
	d  dialect
	// allEndpointsBatch is how many partners AllEndpoints reads at a time.
	allEndpointsBatch int
	// eventsBatch is how many event ids MessagesOfEvents reads at a time.
	eventsBatch int
	// sealedBatch is how many endpoints CheckSealed and Reseal read at a
	// time.
	sealedBatch int
	// keys seals the endpoint values kept secret; nil: none are sealed.
	keys *Keyring

	// inserts, fanouts, claims, records and defers batch the single-event
	// InsertEvents, the first FanOut, ClaimMessage, RecordAttempt and
	// RecordEnd, and DeferMessage and HoldMessage calls.
	inserts *batcher[dispatcher.Event, dispatcher.Insert]
	fanouts *batcher[fanout, fannedOut]
	claims  *batcher[claim, claimed]
	records *batcher[record, recorded]
	defers  *batcher[deferral, bool]
	// lookups batches LookupShipments, which every event posted makes.
	lookups *batcher[lookup, dispatcher.ShipmentLookup]
	// stop ends the batchers' runners; wg waits for them.
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

func newStore(db *sql.DB, d dialect) *Store {
	s := &Store{db: db, d: d, allEndpointsBatch: allEndpointsBatch, eventsBatch: eventsBatch, sealedBatch: sealedBatch,
		stop: make(chan struct{})}
	s.inserts = newBatcher(s, batchRunners, maxBatch, s.insertEventBatch)
	s.fanouts = newBatcher(s, batchRunners, maxBatch, s.fanOutBatch)
	s.claims = newBatcher(s, batchRunners, maxBatch, s.claimBatch)
	s.records = newBatcher(s, batchRunners, maxBatch, s.recordBatch)
	s.defers = newBatcher(s, batchRunners, maxBatch, s.deferBatch)
	s.lookups = newBatcher(s, batchRunners, maxBatch, s.lookUpTogether)
	return s
}

// Open connects to the database at databaseURL and checks that it answers:
//
//   - postgres://… or postgresql://… is PostgreSQL (any pgx connection
//     parameter works, and unknown ones such as search_path are sent as
//     run-time parameters);
//   - sqlite:<path>, file:<path> or a plain path is an SQLite file, created
//     with its parent directory if missing, in WAL mode with foreign keys
//     on. sqlite::memory: is a private in-memory database.
//
// Open does not migrate; call Migrate. opts set the store up (WithKeyring).
// Errors name the database without its password.
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	lower := strings.ToLower(databaseURL)
	var (
		s   *Store
		err error
	)
	switch {
	case strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://"):
		s, err = openPostgres(databaseURL)
	case hasOtherScheme(lower):
		return nil, fmt.Errorf("database URL %s: unknown scheme; use postgres://user@host:port/database for PostgreSQL, "+
			"or sqlite:<path> (file:<path>, or a plain path) for SQLite", redact(databaseURL))
	default:
		s, err = openSQLite(databaseURL)
	}
	if err != nil {
		return nil, err
	}
	for _, opt := range opts {
		opt(s)
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.db.Close()
		return nil, fmt.Errorf("connect to %s database %s: %w", s.d.name, redact(databaseURL), err)
	}
	return s, nil
}

func openPostgres(databaseURL string) (*Store, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		// pgx's parse errors already hide the password.
		return nil, fmt.Errorf("parse postgres database URL: %w", err)
	}
	// shiphook's queries are short OLTP statements; JIT compilation, set off
	// by a bad row estimate, would cost each tens of milliseconds.
	cfg.RuntimeParams["jit"] = "off"
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(postgresMaxOpen)
	db.SetMaxIdleConns(postgresMaxIdle)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	return newStore(db, postgres), nil
}

func openSQLite(databaseURL string) (*Store, error) {
	path, params, err := sqlitePath(databaseURL)
	if err != nil {
		return nil, err
	}
	maxOpen := sqliteMaxOpen
	if path == ":memory:" {
		// Every connection would open a database of its own.
		maxOpen = 1
	} else if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create directory of sqlite database: %w", err)
		}
	}
	db, err := sql.Open("sqlite", sqliteDSN(path, params))
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	return newStore(db, sqliteDialect), nil
}

// sqlitePath splits an SQLite database URL into the file path and the
// query parameters given with it.
func sqlitePath(databaseURL string) (string, url.Values, error) {
	rest := databaseURL
	for _, prefix := range []string{"sqlite:", "sqlite3:", "file:"} {
		if len(rest) >= len(prefix) && strings.EqualFold(rest[:len(prefix)], prefix) {
			rest = rest[len(prefix):]
			// sqlite:///abs/path and sqlite://rel/path
			rest = strings.TrimPrefix(rest, "//")
			break
		}
	}
	path, query, _ := strings.Cut(rest, "?")
	params, err := url.ParseQuery(query)
	if err != nil {
		return "", nil, fmt.Errorf("parse sqlite database URL parameters: %w", err)
	}
	if path == "" {
		return "", nil, errors.New("sqlite database URL names no file")
	}
	return path, params, nil
}

// sqliteDSN adds shiphook's settings to the parameters given in the URL,
// which take precedence:
//   - WAL, so readers never block the writer;
//   - busy_timeout, so a writer waits for the lock instead of failing;
//   - IMMEDIATE transactions, which take the write lock when they begin,
//     so two transactions never deadlock upgrading a read lock;
//   - foreign keys on (cascading deletes), synchronous NORMAL (durable
//     in WAL but for the last transactions on power loss).
func sqliteDSN(path string, params url.Values) string {
	defaults := map[string]string{
		"_journal_mode": "WAL",
		"_busy_timeout": fmt.Sprint(sqliteBusyTimeout.Milliseconds()),
		"_txlock":       "immediate",
		"_foreign_keys": "1",
		"_synchronous":  "NORMAL",
	}
	for k, v := range defaults {
		if !params.Has(k) {
			params.Set(k, v)
		}
	}
	return path + "?" + params.Encode()
}

// redact returns databaseURL without a password, for error messages.
func redact(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || u.Scheme == "" {
		if strings.Contains(databaseURL, "@") {
			return "(unparsable URL)"
		}
		return databaseURL
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// hasOtherScheme tells whether a lower-cased database URL starts with a
// scheme other than those Open knows, such as postgress:// or mysql://:
// taken for a file name, it would make a new, empty SQLite database.
func hasOtherScheme(lower string) bool {
	scheme, _, ok := strings.Cut(lower, ":")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/\\.") {
		return false
	}
	for _, known := range []string{"sqlite", "sqlite3", "file"} {
		if scheme == known {
			return false
		}
	}
	for _, r := range scheme {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '-') {
			return false
		}
	}
	return len(scheme) > 1 // a drive letter such as c: is a path
}

// SQLiteFile returns the path of the SQLite file that databaseURL names, as
// Open reads it (":memory:" for an in-memory database); ok is false for a
// PostgreSQL URL or one Open refuses.
func SQLiteFile(databaseURL string) (path string, ok bool) {
	lower := strings.ToLower(databaseURL)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") || hasOtherScheme(lower) {
		return "", false
	}
	path, _, err := sqlitePath(databaseURL)
	return path, err == nil
}

// Where names the database without its password: the URL of a PostgreSQL
// database, the path of an SQLite file.
func Where(databaseURL string) string { return redact(databaseURL) }

// Dialect returns "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.d.name }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.unavailable(&err)
	return s.db.PingContext(ctx)
}

// AutovacuumOff reports whether the PostgreSQL server runs without
// autovacuum; SQLite has none and reports false. Without it, tables keep
// the statistics of their last manual ANALYZE, and a statement that a
// connection prepared while a table was small can keep a plan that reads
// the whole table to find one row.
func (s *Store) AutovacuumOff(ctx context.Context) (_ bool, err error) {
	defer s.unavailable(&err)
	if s.d.name != postgres.name {
		return false, nil
	}
	var setting string
	if err := s.db.QueryRowContext(ctx, "SELECT current_setting('autovacuum')").Scan(&setting); err != nil {
		return false, fmt.Errorf("read the autovacuum setting: %w", err)
	}
	return setting == "off", nil
}

// Close closes the database's connections.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
	return s.db.Close()
}

// q returns query with the dialect's placeholders.
func (s *Store) q(query string) string { return s.d.rebind(query) }

// inTx runs fn in a transaction and commits it if fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// classify turns a constraint violation into ErrConflict (unique) or
// ErrNotFound (a referenced row is missing), wrapped with what; other
// errors are wrapped as they are.
func (s *Store) classify(err error, what string) error {
	switch s.d.violation(err) {
	case uniqueViolation:
		return fmt.Errorf("%s: %w", what, subscriptions.ErrConflict)
	case foreignKeyViolation:
		return fmt.Errorf("%s: %w", what, subscriptions.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// unavailable wraps *err in subscriptions.ErrUnavailable, keeping the
// cause in the chain, when it says that the database could not be used:
// the store is closed, a connection could not be made or broke (refused,
// reset, timed out while connecting), or the server is shutting down or
// not yet accepting sessions. Every exported method defers it, so that a
// caller can tell an outage, to retry later, from a defect.
func (s *Store) unavailable(err *error) {
	if *err == nil || errors.Is(*err, subscriptions.ErrUnavailable) || !s.unreachable(*err) {
		return
	}
	*err = fmt.Errorf("%w: %w", subscriptions.ErrUnavailable, *err)
}

// unreachable reports whether err means that the database could not be
// reached, as unavailable lists.
func (s *Store) unreachable(err error) bool {
	select {
	case <-s.stop:
		// Closed: every call fails, database/sql's with an unexported error.
		return true
	default:
	}
	var netErr *net.OpError
	switch {
	case errors.Is(err, errClosed), errors.Is(err, sql.ErrConnDone), errors.Is(err, driver.ErrBadConn),
		errors.As(err, &netErr):
		return true
	}
	return s.d.lostServer(err)
}

// notFound turns sql.ErrNoRows into ErrNotFound, wrapped with what.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, subscriptions.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// mustAffect returns ErrNotFound, wrapped with what, unless res changed a row.
func mustAffect(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, subscriptions.ErrNotFound)
	}
	return nil
}

// defaultLimit is the page size when a caller asks for none.
const defaultLimit = 50

// limitOf is the page size for a limit a caller gave: defaultLimit when
// it is zero or negative.
func limitOf(n int) int {
	if n <= 0 {
		return defaultLimit
	}
	return n
}

// Times are stored as microseconds since the Unix epoch and read as UTC.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullMicros is the column value of an optional time: NULL or microseconds.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// nowOr returns t, or the current time if t is zero.
func nowOr(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// addIDs adds the ids that rows of one column hold to set, and closes
// rows.
func addIDs(rows *sql.Rows, set map[string]bool) error {
	return eachRow(rows, func(sc scanner) error {
		var id string
		if err := sc.Scan(&id); err != nil {
			return err
		}
		set[id] = true
		return nil
	})
}

// eachRow calls fn for every row and closes rows.
func eachRow(rows *sql.Rows, fn func(scanner) error) error {
	defer rows.Close()
	return forRows(rows, fn)
}

// forRows calls fn for every row of rows, database/sql's or pgx's, and
// returns the first error; it leaves closing rows to the caller.
func forRows(rows interface {
	scanner
	Next() bool
	Err() error
}, fn func(scanner) error) error {
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// collect scans every row with scan and closes rows; errors are wrapped
// with what.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error), what string) ([]T, error) {
	var out []T
	err := eachRow(rows, func(sc scanner) error {
		v, err := scan(sc)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// scanID scans a row of one column, an id.
func scanID(sc scanner) (string, error) {
	var id string
	err := sc.Scan(&id)
	return id, err
}

// placeholders returns n comma-separated ?s.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// valueRows returns the rows of a multi-row VALUES: n rows of cols
// placeholders each, "(?, ?), (?, ?)".
func valueRows(n, cols int) string {
	if n <= 0 {
		return ""
	}
	row := "(" + placeholders(cols) + ")"
	return strings.Repeat(row+", ", n-1) + row
}

// nullString is the column value of an optional string: NULL when empty.
func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// DBStats returns the statistics of the database's connection pool.
func (s *Store) DBStats() sql.DBStats { return s.db.Stats() }

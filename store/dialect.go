package store

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Everything that differs between PostgreSQL and SQLite lives in this file.
// Queries are written once, with ? placeholders, in the SQL both accept.

// dialect is one database's way of doing the few things the two differ in.
type dialect struct {
	name string
	// rebind rewrites ? placeholders into the dialect's own.
	rebind func(query string) string
	// lockMigrations serialises Migrate across processes for the rest of tx.
	lockMigrations func(ctx context.Context, tx *sql.Tx) error
	// violation classifies a constraint error.
	violation func(err error) violation
	// lostServer reports whether err says that the database server could
	// not be reached or went away, beyond what unreachable checks for
	// every database.
	lostServer func(err error) bool
	// inSubquery is the condition that column is among the values subquery
	// returns, for a subquery with a LIMIT that picks a batch of rows to
	// change by id.
	inSubquery func(column, subquery string) string
	// jsonStrings is a subquery that returns the strings of the JSON
	// array of text in column, one row each.
	jsonStrings func(column string) string
	// lockSkipping ends a SELECT that picks rows to change in the same
	// statement: it locks them, passing over rows another transaction has
	// locked (PostgreSQL). SQLite, which writes one transaction at a time,
	// needs nothing.
	lockSkipping string
	// updateInWith is whether an UPDATE ... RETURNING may feed the rest of
	// a statement from its WITH clause (PostgreSQL; SQLite allows only
	// SELECT there).
	updateInWith bool
	// pipeline is whether statements may be sent together and run as one
	// transaction in one round trip (PostgreSQL, through pgx).
	pipeline bool
}

type violation int

const (
	noViolation violation = iota
	uniqueViolation
	foreignKeyViolation
)

// migrationLockKey identifies Migrate's advisory lock in PostgreSQL.
const migrationLockKey = 7_436_119_105_221_334_101

var postgres = dialect{
	name:   "postgres",
	rebind: dollarPlaceholders,
	lockMigrations: func(ctx context.Context, tx *sql.Tx) error {
		// Held until the transaction ends; concurrent runners queue here and
		// then find the migration applied.
		_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLockKey))
		return err
	},
	violation: func(err error) violation {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			return noViolation
		}
		switch pgErr.Code {
		case "23505":
			return uniqueViolation
		case "23503":
			return foreignKeyViolation
		}
		return noViolation
	},
	lostServer: func(err error) bool {
		var (
			connErr *pgconn.ConnectError
			pgErr   *pgconn.PgError
		)
		switch {
		case errors.As(err, &connErr), errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.ErrUnexpectedEOF):
			// Connecting failed (refused, timed out, or the server
			// refused the session), or the connection broke mid-reply.
			return true
		case errors.As(err, &pgErr):
			// admin_shutdown, crash_shutdown, cannot_connect_now and the
			// class of connection exceptions.
			return pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" ||
				strings.HasPrefix(pgErr.Code, "08")
		}
		return false
	},
	inSubquery: func(column, subquery string) string {
		// The array is computed once, before the outer scan, which then
		// reads the primary key for each value. Planned as IN, the
		// subquery may become the inner side of a hash join that reads
		// every row of the table: a generic plan, which cannot see the
		// limit, does that.
		return column + " = ANY (ARRAY(" + subquery + "))"
	},
	jsonStrings: func(column string) string {
		return "SELECT jsonb_array_elements_text(" + column + "::jsonb)"
	},
	lockSkipping: " FOR UPDATE SKIP LOCKED",
	updateInWith: true,
	pipeline:     true,
}

var sqliteDialect = dialect{
	name:   "sqlite",
	rebind: func(query string) string { return query },
	lockMigrations: func(context.Context, *sql.Tx) error {
		// Transactions begin IMMEDIATE (see sqliteDSN): the write lock is
		// already held.
		return nil
	},
	violation: func(err error) violation {
		var sqErr *sqlite.Error
		if !errors.As(err, &sqErr) {
			return noViolation
		}
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return uniqueViolation
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return foreignKeyViolation
		}
		return noViolation
	},
	// The file is opened in the process: beyond a closed store, nothing
	// stands between shiphook and its database.
	lostServer: func(error) bool { return false },
	inSubquery: func(column, subquery string) string {
		// SQLite runs the subquery once into a temporary table and looks
		// each value up in the primary key.
		return column + " IN (" + subquery + ")"
	},
	jsonStrings: func(column string) string {
		return "SELECT value FROM json_each(" + column + ")"
	},
}

// dollarPlaceholders turns the n-th ? of query into $n. Queries of this
// package hold no ? in literals or comments.
func dollarPlaceholders(query string) string {
	n := strings.Count(query, "?")
	if n == 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 2*n)
	i := 0
	for {
		j := strings.IndexByte(query, '?')
		if j < 0 {
			b.WriteString(query)
			return b.String()
		}
		i++
		b.WriteString(query[:j])
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(i))
		query = query[j+1:]
	}
}

package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shiphook/shiphook/deploy"
)

// migration is one file of deploy.Migrations.
type migration struct {
	version int64
	name    string
	sql     string
}

// Migrate applies the migrations of the store's dialect that the database
// lacks, in version order, each in a transaction of its own together with
// its row in schema_migrations. Running it again does nothing; processes
// that run it at the same time wait for each other.
func (s *Store) Migrate(ctx context.Context) (err error) {
	defer s.unavailable(&err)
	migrations, err := loadMigrations(s.d.name)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.d.lockMigrations(ctx, tx); err != nil {
			return fmt.Errorf("lock migrations: %w", err)
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    BIGINT PRIMARY KEY,
			applied_at BIGINT NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range migrations {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			if err := s.d.lockMigrations(ctx, tx); err != nil {
				return fmt.Errorf("lock migrations: %w", err)
			}
			var n int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), m.version, micros(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// loadMigrations reads the migrations of dialect, ordered by version.
func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(deploy.Migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", dialect, err)
	}
	var out []migration
	seen := map[int64]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		prefix, _, _ := strings.Cut(name, "_")
		version, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s/%s: name must start with a positive version number and _", dialect, name)
		}
		if other, ok := seen[version]; ok {
			return nil, fmt.Errorf("migrations %s and %s of %s share version %d", other, name, dialect, version)
		}
		seen[version] = name
		b, err := fs.ReadFile(deploy.Migrations, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s/%s: %w", dialect, name, err)
		}
		out = append(out, migration{version: version, name: dialect + "/" + name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// CheckMigrated returns an error saying to run "shiphook migrate" when the
// database lacks a migration this build needs.
func (s *Store) CheckMigrated(ctx context.Context) (err error) {
	defer s.unavailable(&err)
	migrations, err := loadMigrations(s.d.name)
	if err != nil {
		return err
	}
	applied := map[int64]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("the database has no shiphook schema yet: run \"shiphook migrate\" first (%w)", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	for _, m := range migrations {
		if !applied[m.version] {
			return fmt.Errorf("the database lacks migration %s: run \"shiphook migrate\" first", m.name)
		}
	}
	return nil
}

package deploy

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

// reviewedDrops are the migrations allowed to drop a constraint or an
// index, each with why the version before it runs unchanged on the schema
// after it. A new entry needs the same argument.
var reviewedDrops = map[string]string{
	"postgres/0003_lean_writes.sql": "drops two foreign keys (a constraint less refuses no write the old code makes) " +
		"and replaces two unique constraints with partial unique indexes that enforce the same uniqueness " +
		"and serve the same ON CONFLICT DO NOTHING; no statement of the store changed with it",
}

// breaking are the statements that can break the version still running
// while "shiphook migrate" applies the next one's migrations: it would
// read or write a column or table that is gone, renamed or retyped, or
// insert a row without a column that became required.
var breaking = []struct {
	why string
	re  *regexp.Regexp
}{
	{"drops a table, column, view or type", regexp.MustCompile(`(?i)\bDROP\s+(TABLE|COLUMN|VIEW|TYPE|SCHEMA|SEQUENCE)\b`)},
	{"drops a column", regexp.MustCompile(`(?i)\bALTER\s+TABLE\s+\S+\s+DROP\s+(IF\s+EXISTS\s+)?[a-z_"]+\s*;`)},
	{"renames", regexp.MustCompile(`(?i)\bRENAME\b`)},
	{"changes a column's type", regexp.MustCompile(`(?i)\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b`)},
	{"makes a column required", regexp.MustCompile(`(?i)\bSET\s+NOT\s+NULL\b`)},
	{"adds a required column without a default", regexp.MustCompile(`(?i)\bADD\s+(COLUMN\s+)?[^;]*\bNOT\s+NULL\b`)},
	{"truncates or deletes rows", regexp.MustCompile(`(?i)\b(TRUNCATE|DELETE\s+FROM)\b`)},
}

var (
	dropConstraint = regexp.MustCompile(`(?i)\bDROP\s+(CONSTRAINT|INDEX)\b`)
	hasDefault     = regexp.MustCompile(`(?i)\bDEFAULT\b`)
	sqlComment     = regexp.MustCompile(`--[^\n]*`)
)

// TestMigrationsAreAdditive checks that every migration only adds, so
// that the previous version keeps serving while it is applied (a rolling
// upgrade runs "shiphook migrate" first): no table or column is dropped,
// renamed or retyped, no column becomes required, no row is removed, and a
// constraint or index is dropped only in a migration reviewed for it.
func TestMigrationsAreAdditive(t *testing.T) {
	n := 0
	err := fs.WalkDir(Migrations, "migrations", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".sql") {
			return err
		}
		name := strings.TrimPrefix(p, "migrations/")
		if strings.HasPrefix(path.Base(p), "0001_") {
			return nil // the first schema: nothing ran before it
		}
		b, err := fs.ReadFile(Migrations, p)
		if err != nil {
			return err
		}
		n++
		for _, stmt := range strings.Split(sqlComment.ReplaceAllString(string(b), ""), ";") {
			stmt = strings.TrimSpace(stmt) + ";"
			for _, rule := range breaking {
				if !rule.re.MatchString(stmt) {
					continue
				}
				if rule.why == "adds a required column without a default" && hasDefault.MatchString(stmt) {
					continue
				}
				t.Errorf("%s %s: %s", name, rule.why, stmt)
			}
			if dropConstraint.MatchString(stmt) && reviewedDrops[name] == "" {
				t.Errorf("%s drops a constraint or an index, and is not among the reviewed: %s", name, stmt)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no migration after the first found")
	}
}

// TestBreakingRules shows each rule catching the statement it is for, and
// passing what only adds.
func TestBreakingRules(t *testing.T) {
	breaks := func(stmt string) bool {
		for _, rule := range breaking {
			if rule.re.MatchString(stmt) && !(rule.why == "adds a required column without a default" && hasDefault.MatchString(stmt)) {
				return true
			}
		}
		return false
	}
	for _, stmt := range []string{
		"DROP TABLE feeds;",
		"ALTER TABLE messages DROP COLUMN sequence;",
		"ALTER TABLE messages DROP sequence;",
		"ALTER TABLE messages RENAME COLUMN sequence TO seq;",
		"ALTER TABLE messages ALTER COLUMN sequence TYPE INTEGER;",
		"ALTER TABLE messages ALTER COLUMN sequence SET NOT NULL;",
		"ALTER TABLE endpoints ADD COLUMN kind TEXT NOT NULL;",
		"DELETE FROM attempts;",
	} {
		if !breaks(stmt) {
			t.Errorf("not caught: %s", stmt)
		}
	}
	for _, stmt := range []string{
		"ALTER TABLE endpoints ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook';",
		"ALTER TABLE messages ADD COLUMN sequence BIGINT;",
		"CREATE TABLE feed_positions (endpoint_id TEXT NOT NULL PRIMARY KEY);",
		"CREATE INDEX messages_held ON messages (endpoint_id, id) WHERE (status = 'held') IS TRUE;",
		"ALTER TABLE messages DROP CONSTRAINT messages_event_id_fkey;",
	} {
		if breaks(stmt) {
			t.Errorf("caught, though it only adds: %s", stmt)
		}
	}
}

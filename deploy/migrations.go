// Package deploy holds what runs shiphook outside the Go code: container
// and chart files, and the SQL migrations that package store applies.
package deploy

import "embed"

// Migrations holds the schema of each database dialect:
// migrations/<dialect>/<version>_<name>.sql, where dialect is "postgres" or
// "sqlite" and version is a positive number. Migrations apply in ascending
// version order, each once.
//
//go:embed migrations
var Migrations embed.FS

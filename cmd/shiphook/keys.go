package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/shiphook/shiphook/store"
)

// rotateCommand reseals every endpoint secret and header value with the
// first encryption key.
const rotateCommand = "rotate-encryption-key"

// keyFileName is the file beside an SQLite database that keeps its
// encryption keys when SHIPHOOK_ENCRYPTION_KEY is not set.
const keyFileName = "encryption.key"

// errNoKey is the start of a PostgreSQL deployment without a key: the api
// and worker processes, often on separate hosts, must share one, so none
// of them may make its own.
var errNoKey = errors.New("no encryption key: on PostgreSQL, set SHIPHOOK_ENCRYPTION_KEY (or --encryption-key) " +
	"to the same key in every serve, api and worker process; it encrypts the endpoints' signing secrets and header values. " +
	"Make one with \"shiphook gen-encryption-key\" or \"openssl rand -base64 32\", and keep it safe: without it they cannot be read")

// parseKeys reads the encryption keys given by the flag or variable, if any.
func (c *config) parseKeys() error {
	if c.encryptionKey == "" {
		return nil
	}
	k, err := store.ParseKeyring(c.encryptionKey)
	if err != nil {
		return fmt.Errorf("$SHIPHOOK_ENCRYPTION_KEY (or --encryption-key): %w", err)
	}
	c.keys = k
	return nil
}

// keyring returns the encryption keys of the database at url: those
// given; else, for an SQLite file, those in encryption.key beside it,
// made with a new key on first start; a new key for an in-memory SQLite
// database. PostgreSQL needs them given (errNoKey).
func keyring(given *store.Keyring, url string, log *slog.Logger) (*store.Keyring, error) {
	if given != nil {
		return given, nil
	}
	path, ok := store.SQLiteFile(databaseURL(url))
	switch {
	case !ok:
		return nil, errNoKey
	case path == ":memory:":
		return store.ParseKeyring(store.NewEncryptionKey())
	}
	return keyFile(filepath.Join(filepath.Dir(path), keyFileName), log)
}

// keyFile returns the keys that the file at path holds, in the form of
// SHIPHOOK_ENCRYPTION_KEY, first making it, readable by its owner only,
// with a new key if it does not exist.
func keyFile(path string, log *slog.Logger) (*store.Keyring, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		made, werr := writeKeyFile(path)
		if werr != nil {
			return nil, fmt.Errorf("make an encryption key in %s: %w", path, werr)
		}
		if made {
			log.Info("made an encryption key for the endpoints' secrets: back it up with the database, which cannot be read without it", "path", path)
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read the encryption key: %w", err)
	}
	if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
		log.Warn("the encryption key file can be read by others than its owner: chmod 600 it", "path", path)
	}
	k, err := store.ParseKeyring(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("encryption key file %s: %w", path, err)
	}
	return k, nil
}

// writeKeyFile makes the file at path, mode 0600, with a new key, and
// reports whether it did: not if another process made it first. The key
// is written whole before the file appears under its name.
func writeKeyFile(path string) (made bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(dir, "."+keyFileName+"-*") // mode 0600
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	_, err = fmt.Fprintln(tmp, store.NewEncryptionKey())
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	err = os.Link(tmp.Name(), path)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	return err == nil, err
}

// checkKeys checks that the keys of st open every sealed endpoint value
// and source secret, so that a process with a wrong or missing key stops
// at start rather than at its first delivery, and warns of values that a
// rotation would seal anew.
func checkKeys(ctx context.Context, st *store.Store, keys *store.Keyring, log *slog.Logger) error {
	c, err := st.CheckSealed(ctx)
	if err != nil {
		if errors.Is(err, store.ErrCannotOpen) {
			return fmt.Errorf("check the encryption keys: %w; give every key still in use in SHIPHOOK_ENCRYPTION_KEY, the sealing one first", err)
		}
		return fmt.Errorf("check the encryption keys: %w", err)
	}
	log.Info("endpoint secrets and header values are encrypted", "key", keys.IDs()[0], "keys", len(keys.IDs()), "endpoints", c.Endpoints, "sources", c.Sources)
	if c.Stale > 0 || c.StaleSources > 0 {
		log.Warn("some endpoints keep secrets or header values in plain text or sealed by an older key: run shiphook "+rotateCommand,
			"endpoints", c.Stale, "sources", c.StaleSources, "key", keys.IDs()[0])
	}
	return nil
}

// rotateKeys runs rotate-encryption-key: it reseals every endpoint secret
// and header value with the first of the keys given, and says how many
// endpoints it rewrote.
func rotateKeys(ctx context.Context, c config, stdout io.Writer, log *slog.Logger) error {
	keys, err := keyring(c.keys, c.databaseURL, log)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, c.databaseURL, keys, log)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := st.Reseal(ctx)
	if err != nil {
		return fmt.Errorf("reseal endpoints (%d rewritten before): %w", res.Rewritten, err)
	}
	fmt.Fprintf(stdout, "resealed %d of %d endpoints with encryption key %s\n", res.Rewritten, res.Endpoints, keys.IDs()[0])
	if res.SourcesRewritten > 0 {
		fmt.Fprintf(stdout, "resealed %d source secrets with encryption key %s\n", res.SourcesRewritten, keys.IDs()[0])
	}
	if res.Changed > 0 {
		fmt.Fprintf(stdout, "%d endpoints were changed meanwhile and kept as written: run %s again to check them\n", res.Changed, rotateCommand)
	}
	return nil
}

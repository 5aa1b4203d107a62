package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/shiphook/shiphook/subscriptions"
)

// This file seals the endpoint values the database keeps secret — the
// secret and previous_secret columns, and the header values in the options
// column — with the store's Keyring, and checks and reseals them all.

// An Option sets up a Store that Open returns.
type Option func(*Store)

// WithKeyring makes the store seal endpoint secrets and custom header
// values with k as it writes them, and open them as it reads them, so that
// its callers see plain values only. Without it, values are written as
// given, and a sealed value does not open.
func WithKeyring(k *Keyring) Option {
	return func(s *Store) { s.keys = k }
}

// storedOptions is the options column: the endpoint's Options with their
// header values sealed. Its Headers shadows the embedded Options.Headers,
// whose JSON masks the values.
type storedOptions struct {
	subscriptions.Options
	Headers map[string]string `json:"headers,omitempty"`
}

// sealedAt names the place of a sealed value, which seal binds it to: a
// field of an endpoint, or one of its headers.
func sealedAt(endpointID, field string) string { return "endpoint " + endpointID + " " + field }

func headerField(name string) string { return "header " + name }

// sealHeaders returns h with its values sealed for endpoint id.
func (k *Keyring) sealHeaders(id string, h subscriptions.Headers) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for name, v := range h {
		out[name] = k.seal(v, sealedAt(id, headerField(name)))
	}
	return out
}

// openField opens the stored value of an endpoint's field; its error names
// both.
func (k *Keyring) openField(id, field, stored string) (string, error) {
	v, err := k.open(stored, sealedAt(id, field))
	if err != nil {
		return "", fmt.Errorf("endpoint %s %s: %w", id, field, err)
	}
	return v, nil
}

// openOptions decodes the options column of endpoint id and opens its
// header values.
func (k *Keyring) openOptions(id, column string) (subscriptions.Options, error) {
	if column == "{}" || column == "" {
		return subscriptions.Options{}, nil
	}
	var o storedOptions
	if err := json.Unmarshal([]byte(column), &o); err != nil {
		return o.Options, fmt.Errorf("endpoint %s: decode options: %w", id, err)
	}
	if len(o.Headers) > 0 {
		o.Options.Headers = make(subscriptions.Headers, len(o.Headers))
		for name, stored := range o.Headers {
			v, err := k.openField(id, headerField(name), stored)
			if err != nil {
				return o.Options, err
			}
			o.Options.Headers[name] = v
		}
	}
	return o.Options, nil
}

// sealedRow is what an endpoint row keeps sealed, as stored.
type sealedRow struct {
	id, secret, prevSecret, options string
}

// opened returns the row's values opened: the secrets, and the options
// with their headers.
func (r sealedRow) opened(k *Keyring) (secret, prevSecret string, o subscriptions.Options, err error) {
	if secret, err = k.openField(r.id, "secret", r.secret); err != nil {
		return
	}
	if prevSecret, err = k.openField(r.id, "previous_secret", r.prevSecret); err != nil {
		return
	}
	o, err = k.openOptions(r.id, r.options)
	return
}

// stale reports whether a value of the row is not sealed by k's first key,
// given its opened options o.
func (r sealedRow) stale(k *Keyring) (bool, error) {
	if !k.current(r.secret) || !k.current(r.prevSecret) {
		return true, nil
	}
	if r.options == "{}" || r.options == "" {
		return false, nil
	}
	var o storedOptions
	if err := json.Unmarshal([]byte(r.options), &o); err != nil {
		return false, fmt.Errorf("endpoint %s: decode options: %w", r.id, err)
	}
	for _, v := range o.Headers {
		if !k.current(v) {
			return true, nil
		}
	}
	return false, nil
}

// resealed returns the row with every value opened and sealed again by
// k's first key.
func (r sealedRow) resealed(k *Keyring) (sealedRow, error) {
	secret, prev, o, err := r.opened(k)
	if err != nil {
		return r, err
	}
	b, err := json.Marshal(storedOptions{Options: o, Headers: k.sealHeaders(r.id, o.Headers)})
	if err != nil {
		return r, fmt.Errorf("endpoint %s: encode options: %w", r.id, err)
	}
	return sealedRow{id: r.id, secret: k.seal(secret, sealedAt(r.id, "secret")),
		prevSecret: k.seal(prev, sealedAt(r.id, "previous_secret")), options: string(b)}, nil
}

// sealedBatch is how many endpoints CheckSealed and Reseal read at a time.
const sealedBatch = 500

// sealedRows reads up to n endpoint rows after id after, in id order.
func (s *Store) sealedRows(ctx context.Context, q querier, after string, n int) ([]sealedRow, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT id, secret, previous_secret, options FROM endpoints
		WHERE id > ? ORDER BY id LIMIT ?`), after, n)
	if err != nil {
		return nil, fmt.Errorf("read endpoints: %w", err)
	}
	return collect(rows, func(sc scanner) (sealedRow, error) {
		var r sealedRow
		err := sc.Scan(&r.id, &r.secret, &r.prevSecret, &r.options)
		return r, err
	}, "read endpoints")
}

// SealCheck is what CheckSealed found.
type SealCheck struct {
	// Endpoints is how many endpoints were read.
	Endpoints int
	// Stale is how many of them keep a value in plain text, or sealed by a
	// key other than the first: Reseal seals them with the first.
	Stale int
	// Sources and StaleSources count the sources with a secret (DCSA
	// sources) in the same way.
	Sources, StaleSources int
}

// CheckSealed opens every endpoint's secrets and header values, and every
// source's secret, with the store's keyring, a batch of endpoints at a
// time, and counts the endpoints and sources that Reseal would rewrite.
// Returns an error wrapping ErrCannotOpen, naming the endpoint or source
// and its field, at the first value that no key opens.
func (s *Store) CheckSealed(ctx context.Context) (_ SealCheck, err error) {
	defer s.unavailable(&err)
	c, err := s.checkEndpoints(ctx)
	if err != nil {
		return c, err
	}
	c.Sources, c.StaleSources, err = s.checkSources(ctx)
	return c, err
}

// checkEndpoints is CheckSealed's part for endpoints.
func (s *Store) checkEndpoints(ctx context.Context) (SealCheck, error) {
	var c SealCheck
	for after := ""; ; {
		rows, err := s.sealedRows(ctx, s.db, after, s.sealedBatch)
		if err != nil {
			return c, err
		}
		for _, r := range rows {
			if _, _, _, err := r.opened(s.keys); err != nil {
				return c, err
			}
			stale, err := r.stale(s.keys)
			if err != nil {
				return c, err
			}
			c.Endpoints++
			if stale {
				c.Stale++
			}
		}
		if len(rows) < s.sealedBatch {
			return c, nil
		}
		after = rows[len(rows)-1].id
	}
}

// Resealed is what Reseal did.
type Resealed struct {
	// Endpoints is how many endpoints were read; Rewritten, how many of
	// them were sealed again.
	Endpoints, Rewritten int
	// Changed is how many endpoints that needed it were changed by someone
	// else between Reseal's read and its write, and left as they were
	// written; running Reseal again checks them.
	Changed int
	// SourcesRewritten is how many source secrets were sealed again.
	SourcesRewritten int
}

// Reseal seals every endpoint's secrets and header values that are in
// plain text, or sealed by a key other than the keyring's first, with the
// first key, and so every source's secret; it leaves values sealed by the first key alone, so it may run
// again at any time and then rewrites only what is left. It works a batch
// of endpoints per transaction, and writes an endpoint only if it is still
// as it was read. Returns an error wrapping ErrCannotOpen, naming the
// endpoint, at the first value that no key opens; the batches before it
// stay done.
func (s *Store) Reseal(ctx context.Context) (_ Resealed, err error) {
	defer s.unavailable(&err)
	res, err := s.resealEndpoints(ctx)
	if err != nil {
		return res, err
	}
	res.SourcesRewritten, err = s.resealSources(ctx)
	return res, err
}

// resealEndpoints is Reseal's part for endpoints.
func (s *Store) resealEndpoints(ctx context.Context) (Resealed, error) {
	var res Resealed
	for after := ""; ; {
		var rows []sealedRow
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			if rows, err = s.sealedRows(ctx, tx, after, s.sealedBatch); err != nil {
				return err
			}
			for _, r := range rows {
				if err := s.resealRow(ctx, tx, r, &res); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		res.Endpoints += len(rows)
		if len(rows) < s.sealedBatch {
			return res, nil
		}
		after = rows[len(rows)-1].id
	}
}

// resealRow writes r sealed again, if it needs it, and counts it in res.
func (s *Store) resealRow(ctx context.Context, tx *sql.Tx, r sealedRow, res *Resealed) error {
	stale, err := r.stale(s.keys)
	if err != nil || !stale {
		return err
	}
	n, err := r.resealed(s.keys)
	if err != nil {
		return err
	}
	out, err := tx.ExecContext(ctx, s.q(`UPDATE endpoints SET secret = ?, previous_secret = ?, options = ?
		WHERE id = ? AND secret = ? AND previous_secret = ? AND options = ?`),
		n.secret, n.prevSecret, n.options, r.id, r.secret, r.prevSecret, r.options)
	if err != nil {
		return fmt.Errorf("reseal endpoint %s: %w", r.id, err)
	}
	if changed, err := out.RowsAffected(); err != nil {
		return fmt.Errorf("reseal endpoint %s: %w", r.id, err)
	} else if changed == 0 {
		res.Changed++
	} else {
		res.Rewritten++
	}
	return nil
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shiphook/shiphook/internal/client"
)

// defaultURL is the API the admin commands call unless told otherwise:
// serve's and api's default address, on this host.
const defaultURL = "http://127.0.0.1:8080"

// clientOptions are the settings every admin command shares: where the
// API is, the key it is called with, and the form of the output.
type clientOptions struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	url, key       string
	output         string
}

// addFlags declares --url, --key and --output on cmd and its subcommands.
// The key's default is read when the command runs, so that help never
// shows it.
func (o *clientOptions) addFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&o.url, "url", envOr(o.getenv, "SHIPHOOK_URL", defaultURL), "shiphook's API ($SHIPHOOK_URL)")
	f.StringVar(&o.key, "key", "", "API key (default $SHIPHOOK_KEY)")
	f.StringVarP(&o.output, "output", "o", "table", "table, for people, or json: the API's answer as is")
}

// client returns the API client, or a usage error when no key is known or
// the output form is not one of table and json.
func (o *clientOptions) client() (*client.Client, error) {
	if o.output != "table" && o.output != "json" {
		return nil, fmt.Errorf("--output %q: use table or json", o.output)
	}
	key := o.key
	if key == "" {
		key = o.getenv("SHIPHOOK_KEY")
	}
	if key == "" {
		return nil, errors.New("no API key: set SHIPHOOK_KEY or give --key (make run prints how)")
	}
	return client.New(o.url, key, nil), nil
}

// call sends r to the API and returns the answer's body.
func (o *clientOptions) call(ctx context.Context, r client.Request) ([]byte, error) {
	c, err := o.client()
	if err != nil {
		return nil, err
	}
	return c.Do(ctx, r)
}

// get calls GET path?q.
func (o *clientOptions) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	return o.call(ctx, client.Request{Method: "GET", Path: path, Query: q})
}

// send calls method path with body as JSON; a nil body sends none.
func (o *clientOptions) send(ctx context.Context, method, path string, body map[string]any) ([]byte, error) {
	r := client.Request{Method: method, Path: path}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r.Body = raw
	}
	return o.call(ctx, r)
}

// json reports whether the output is the API's JSON.
func (o *clientOptions) json() bool { return o.output == "json" }

// printRaw writes the API's answer as it came, ending in a newline.
func (o *clientOptions) printRaw(raw []byte) error {
	if _, err := o.stdout.Write(raw); err != nil {
		return err
	}
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		_, err := io.WriteString(o.stdout, "\n")
		return err
	}
	return nil
}

// printObject prints one object of the API: as is, or each field on a
// line.
func (o *clientOptions) printObject(raw []byte) error {
	if o.json() {
		return o.printRaw(raw)
	}
	return writeDetail(o.stdout, raw)
}

// printList prints a page of a list: as is, or as a table of cols, and
// the flag that reads the next page, if there is one, on stderr.
func (o *clientOptions) printList(raw []byte, cols []column) error {
	if o.json() {
		return o.printRaw(raw)
	}
	var page struct {
		Data       []map[string]any `json:"data"`
		NextCursor *string          `json:"next_cursor"`
	}
	if err := decodeJSON(raw, &page); err != nil {
		return err
	}
	if err := writeTable(o.stdout, page.Data, cols); err != nil {
		return err
	}
	if page.NextCursor != nil {
		fmt.Fprintf(o.stderr, "more: --cursor %s\n", *page.NextCursor)
	}
	return nil
}

// printDone says, in table form, that an action without an answer was
// done; JSON prints nothing, as the API answered nothing.
func (o *clientOptions) printDone(format string, args ...any) error {
	if o.json() {
		return nil
	}
	_, err := fmt.Fprintf(o.stdout, format+"\n", args...)
	return err
}

// decodeJSON decodes an answer of the API into v, numbers kept as
// json.Number.
func decodeJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("read the API's answer: %w", err)
	}
	return nil
}

// group is groupCommand with the client's flags.
func (o *clientOptions) group(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := groupCommand(use, short, subs...)
	o.addFlags(g)
	return g
}

// list prints the page of the list at path that q asks for, as a table of
// cols.
func (o *clientOptions) list(c *cobra.Command, path string, q *listQuery, cols []column) error {
	v, err := q.values(time.Now())
	if err != nil {
		return err
	}
	raw, err := o.get(c.Context(), path, v)
	if err != nil {
		return err
	}
	return o.printList(raw, cols)
}

// getCommand is a command that shows the object at the path its one
// argument names.
func (o *clientOptions) getCommand(use, short string, path func(args []string) string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			raw, err := o.get(c.Context(), path(args), nil)
			if err != nil {
				return err
			}
			return o.printObject(raw)
		},
	}
}

// deleteCommand is a command that deletes the object at the path its one
// argument names, and says so with done (given the argument).
func (o *clientOptions) deleteCommand(use, short string, path func(args []string) string, done string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := o.send(c.Context(), "DELETE", path(args), nil); err != nil {
				return err
			}
			return o.printDone(done, args[0])
		},
	}
}

// setString sets body[key] to v unless v is empty.
func setString(body map[string]any, key, v string) {
	if v != "" {
		body[key] = v
	}
}

// argsExactly accepts n arguments, and answers any other number with the
// command's usage line.
func argsExactly(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("usage: %s", c.UseLine())
		}
		return nil
	}
}

// pageFlags declares --limit and --cursor on cmd, which set the query of
// a list.
func pageFlags(cmd *cobra.Command, q *listQuery) {
	cmd.Flags().IntVar(&q.limit, "limit", 0, "items per page, 1 to 250 (default: the API's, 50)")
	cmd.Flags().StringVar(&q.cursor, "cursor", "", "read the page after this cursor (printed after a page that has more)")
}

// listQuery is the query of a list: its page and its filters, by query
// parameter.
type listQuery struct {
	limit   int
	cursor  string
	filters map[string]*string
	// times are filters that take a time: RFC 3339, or a duration ago.
	times map[string]*string
}

// filter declares a flag that sets the query parameter param.
func (q *listQuery) filter(f *pflag.FlagSet, flagName, param, usage string) {
	if q.filters == nil {
		q.filters = map[string]*string{}
	}
	q.filters[param] = f.String(flagName, "", usage)
}

// timeFilter declares a flag that sets the query parameter param to a
// time, given as RFC 3339 or as a duration ago (90m, 24h, 7d).
func (q *listQuery) timeFilter(f *pflag.FlagSet, param, usage string) {
	if q.times == nil {
		q.times = map[string]*string{}
	}
	q.times[param] = f.String(param, "", usage+": RFC 3339, or a duration ago such as 90m, 24h or 7d")
}

// values returns the query parameters that were set, with times as of
// now.
func (q *listQuery) values(now time.Time) (url.Values, error) {
	v := url.Values{}
	if q.limit != 0 {
		v.Set("limit", strconv.Itoa(q.limit))
	}
	if q.cursor != "" {
		v.Set("cursor", q.cursor)
	}
	for param, p := range q.filters {
		if *p != "" {
			v.Set(param, *p)
		}
	}
	for param, p := range q.times {
		if *p == "" {
			continue
		}
		t, err := parseTime(*p, now)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", param, err)
		}
		v.Set(param, t.Format(time.RFC3339Nano))
	}
	return v, nil
}

// parseTime reads s as an RFC 3339 time, or as a duration before now:
// Go's form (90m, 24h) or whole days (7d).
func parseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour).UTC(), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time such as 2026-11-26T14:05:00Z nor a duration ago such as 90m, 24h or 7d", s)
	}
	return now.Add(-d).UTC(), nil
}

// readInput returns the content of the file at path, or of stdin when
// path is "-" or empty.
func readInput(path string, stdin io.Reader) ([]byte, error) {
	if path == "" || path == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

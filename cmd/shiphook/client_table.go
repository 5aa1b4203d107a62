package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// column is a column of a table: its header and the key of the API's
// JSON it shows, dotted for a nested one (breaker.state).
type column struct {
	header, key string
}

// newTabWriter returns the tabwriter every table is written with.
func newTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// writeTable writes rows, objects of the API, as a table of cols.
func writeTable(w io.Writer, rows []map[string]any, cols []column) error {
	tw := newTabWriter(w)
	headers := make([]string, len(cols))
	for i, c := range cols {
		headers[i] = c.header
	}
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(cells(row, cols), "\t"))
	}
	return tw.Flush()
}

// cells returns the cells of row for cols.
func cells(row map[string]any, cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = cell(lookup(row, c.key))
	}
	return out
}

// lookup returns the value at the dotted key in m, nil if there is none.
func lookup(m map[string]any, key string) any {
	var v any = m
	for part := range strings.SplitSeq(key, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[part]
	}
	return v
}

// cell formats a value of the API's JSON for a table: "-" for nothing, a
// time in UTC to the second, a list of scalars comma-separated, an object
// as compact JSON.
func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		if v == "" {
			return "-"
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t.UTC().Format(time.RFC3339)
		}
		return strings.Join(strings.Fields(v), " ")
	case []any:
		if len(v) == 0 {
			return "-"
		}
		parts := make([]string, len(v))
		for i, e := range v {
			switch e.(type) {
			case map[string]any, []any:
				return compactJSON(v)
			}
			parts[i] = cell(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		if len(v) == 0 {
			return "-"
		}
		return compactJSON(v)
	}
	return fmt.Sprint(v)
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// writeDetail writes an object of the API one field a line, in the order
// the API gave them, each value formatted as cell does.
func writeDetail(w io.Writer, raw []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("read the API's answer: not a JSON object: %.100s", raw)
	}
	tw := newTabWriter(w)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("read the API's answer: %w", err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("read the API's answer: %w", err)
		}
		fmt.Fprintf(tw, "%s\t%s\n", tok, cell(v))
	}
	return tw.Flush()
}

// streamTable writes rows as they come, for a command that follows: each
// column is as wide as its widest cell so far, so that rows line up as
// long as values keep their length.
type streamTable struct {
	w      io.Writer
	cols   []column
	widths []int
	header bool
}

func newStreamTable(w io.Writer, cols []column) *streamTable {
	t := &streamTable{w: w, cols: cols, widths: make([]int, len(cols))}
	for i, c := range cols {
		t.widths[i] = len(c.header)
	}
	return t
}

// write writes row, after the header if it is the first.
func (t *streamTable) write(row map[string]any) error {
	cs := cells(row, t.cols)
	for i, c := range cs {
		t.widths[i] = max(t.widths[i], len([]rune(c)))
	}
	if !t.header {
		t.header = true
		hs := make([]string, len(t.cols))
		for i, c := range t.cols {
			hs[i] = c.header
		}
		if err := t.line(hs); err != nil {
			return err
		}
	}
	return t.line(cs)
}

func (t *streamTable) line(cs []string) error {
	var b strings.Builder
	for i, c := range cs {
		if i == len(cs)-1 {
			b.WriteString(c)
			break
		}
		b.WriteString(c)
		b.WriteString(strings.Repeat(" ", t.widths[i]-len([]rune(c))+2))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(t.w, b.String())
	return err
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/internal/client"
)

var eventColumns = []column{{"ID", "id"}, {"TYPE", "type"}, {"SHIPMENT", "shipment.id"}, {"STATUS", "status"},
	{"OCCURRED", "occurred_at"}, {"CREATED", "created_at"}}

var batchColumns = []column{{"INDEX", "index"}, {"STATUS", "status"}, {"ID", "id"}, {"DUPLICATE", "duplicate"},
	{"ERROR", "error.code"}, {"FIELD", "error.field"}, {"MESSAGE", "error.message"}}

// refusedError is a batch some of whose events the API refused: the
// exit status is that of a 4xx answer.
type refusedError struct{ refused, total int }

func (e *refusedError) Error() string {
	return fmt.Sprintf("the API refused %d of %d events (see ERROR)", e.refused, e.total)
}

func (e *refusedError) ExitCode() int { return exitRefused }

// eventsCommand is "shiphook events": POST /v1/events and
// /v1/events/batch, GET /v1/events.
func eventsCommand(o *clientOptions) *cobra.Command {
	var batch bool
	var idempotencyKey string
	post := &cobra.Command{
		Use:   "post [FILE]",
		Short: "Post an event, or a batch with --batch, from FILE or stdin",
		Long: `Post the event in FILE (or stdin, without FILE or with -) as it is, to
POST /v1/events. With --batch, FILE holds many: a JSON array of events,
{"events": [...]}, or one event a line (NDJSON); they go to
POST /v1/events/batch, 500 at a time, and a refused event makes the exit
status 2 once all are sent.`,
		Example: `  shiphook events post event.json
  cat events.ndjson | shiphook events post --batch`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			raw, err := readInput(firstArg(args), c.InOrStdin())
			if err != nil {
				return err
			}
			if batch {
				return o.postBatch(c.Context(), raw)
			}
			r := client.Request{Method: "POST", Path: "/v1/events", Body: raw}
			if idempotencyKey != "" {
				r.Header = http.Header{"Idempotency-Key": {idempotencyKey}}
			}
			answer, err := o.call(c.Context(), r)
			if err != nil {
				return err
			}
			return o.printObject(answer)
		},
	}
	post.Flags().BoolVar(&batch, "batch", false, "FILE holds many events: a JSON array, {\"events\": [...]} or NDJSON")
	post.Flags().StringVar(&idempotencyKey, "idempotency-key", "", "sent as the Idempotency-Key header (one event only)")

	var q listQuery
	list := &cobra.Command{
		Use:   "list",
		Short: "List stored events, newest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.list(c, "/v1/events", &q, eventColumns)
		},
	}
	q.filter(list.Flags(), "type", "type", "an event type, exact or a prefix wildcard such as shiphook.*")
	q.filter(list.Flags(), "shipment", "shipment_id", "a shipment id")
	q.filter(list.Flags(), "status", "status", "resolved or unresolved")
	pageFlags(list, &q)

	return o.group("events", "Post events from a file or stdin, one or a batch; list and show them", post, list,
		o.getCommand("get EVENT", "Show a stored event, with the source item it came from", func(a []string) string { return client.Path("v1", "events", a[0]) }),
	)
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// postBatch posts the events of raw in batches of dispatcher.MaxBatch and
// prints each batch's results, numbered across all of them. Returns a
// *refusedError if the API refused any event.
func (o *clientOptions) postBatch(ctx context.Context, raw []byte) error {
	events, err := splitEvents(raw)
	if err != nil {
		return err
	}
	var results []map[string]any
	refused := 0
	for start := 0; start < len(events); start += dispatcher.MaxBatch {
		chunk := events[start:min(start+dispatcher.MaxBatch, len(events))]
		body, err := json.Marshal(map[string]any{"events": chunk})
		if err != nil {
			return err
		}
		answer, err := o.call(ctx, client.Request{Method: "POST", Path: "/v1/events/batch", Body: body})
		if err != nil {
			return fmt.Errorf("events %d to %d: %w", start, start+len(chunk)-1, err)
		}
		var page struct {
			Data []map[string]any `json:"data"`
		}
		if err := decodeJSON(answer, &page); err != nil {
			return err
		}
		for _, r := range page.Data {
			if r["error"] != nil {
				refused++
			}
			if i, err := r["index"].(json.Number).Int64(); err == nil {
				r["index"] = start + int(i)
			}
		}
		results = append(results, page.Data...)
		if o.json() {
			if err := o.printRaw(answer); err != nil {
				return err
			}
		}
	}
	if !o.json() {
		if err := writeTable(o.stdout, results, batchColumns); err != nil {
			return err
		}
	}
	if refused > 0 {
		return &refusedError{refused: refused, total: len(events)}
	}
	return nil
}

// splitEvents reads the events of a batch: a JSON array, {"events":
// [...]}, or JSON objects one after the other (NDJSON). Each is kept as
// it was written.
func splitEvents(raw []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var values []json.RawMessage
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the events: value %d: %w", len(values)+1, err)
		}
		values = append(values, v)
	}
	if len(values) == 1 {
		one := bytes.TrimSpace(values[0])
		var wrapped struct {
			Events []json.RawMessage `json:"events"`
		}
		switch {
		case len(one) > 0 && one[0] == '[':
			var events []json.RawMessage
			if err := json.Unmarshal(one, &events); err != nil {
				return nil, fmt.Errorf("read the events: %w", err)
			}
			values = events
		case json.Unmarshal(one, &wrapped) == nil && wrapped.Events != nil:
			values = wrapped.Events
		}
	}
	if len(values) == 0 {
		return nil, errors.New("read the events: none given")
	}
	return values, nil
}

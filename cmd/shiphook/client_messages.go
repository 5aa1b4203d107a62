package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/shiphook/shiphook/internal/client"
)

var messageColumns = []column{{"ID", "id"}, {"STATUS", "status"}, {"ATTEMPTS", "attempts"}, {"PARTNER", "partner_id"},
	{"ENDPOINT", "endpoint_id"}, {"EVENT TYPE", "event_type"}, {"SHIPMENT", "shipment_id"}, {"CREATED", "created_at"}, {"LAST ERROR", "last_error"}}

var attemptColumns = []column{{"ID", "id"}, {"MESSAGE", "message_id"}, {"N", "number"}, {"TRIGGER", "trigger"},
	{"STARTED", "started_at"}, {"MS", "duration_ms"}, {"STATUS", "status_code"}, {"ERROR", "error_class"}, {"URL", "url"}}

// messagesCommand is "shiphook messages": the delivery log, GET
// /v1/messages or /v1/partners/{partner_id}/messages with --partner.
func messagesCommand(o *clientOptions) *cobra.Command {
	var q listQuery
	var partner string
	var follow bool
	var interval time.Duration
	list := &cobra.Command{
		Use:   "list",
		Short: "List deliveries, newest first, with the log's filters; --follow prints new ones as they come",
		Long: `List the messages (deliveries) that match the filters, newest first, one page
(--limit, --cursor). With --partner the partner's own route is read, so that a
partner key may use it too. --follow prints the page oldest first, then each new
message as it is created, until interrupted; with -o json, one message a line.`,
		Example: `  shiphook messages list --status failed --since 24h
  shiphook messages list --partner acme --shipment SHP-1001 -o json
  shiphook messages list --follow`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			path := "/v1/messages"
			if partner != "" {
				path = client.Path("v1", "partners", partner, "messages")
			}
			if follow {
				return o.followMessages(c.Context(), path, &q, interval)
			}
			return o.list(c, path, &q, messageColumns)
		},
	}
	f := list.Flags()
	f.StringVar(&partner, "partner", "", "only the partner's messages")
	q.filter(f, "status", "status", "pending, held, delivering, succeeded, failed, disabled, waiting or discarded")
	q.filter(f, "endpoint", "endpoint_id", "an endpoint id")
	q.filter(f, "event-type", "event_type", "an event type")
	q.filter(f, "shipment", "shipment_id", "a shipment id")
	q.filter(f, "error-class", "error_class", "of the last attempt: dns, connect, tls, timeout, http_status, redirect, ssrf_blocked, purged, no_dcsa_form")
	q.timeFilter(f, "since", "created from")
	q.timeFilter(f, "until", "created before")
	pageFlags(list, &q)
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new messages until interrupted")
	f.DurationVar(&interval, "interval", time.Second, "how often --follow asks")

	return o.group("messages", "List deliveries with the log's filters, follow new ones, show one", list,
		o.getCommand("get MESSAGE", "Show a message", func(a []string) string { return client.Path("v1", "messages", a[0]) }),
	)
}

// followSlack is how far before the newest message seen --follow asks
// again, for a message created a little earlier but committed later.
const followSlack = 5 * time.Second

// followedMessage is what --follow reads of a message.
type followedMessage struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

// followMessages prints the page q asks for, oldest first, then every
// message created since, as it comes, until ctx ends. It asks every
// interval for the messages created since shortly before the newest seen,
// reading every page, and prints those it has not printed.
func (o *clientOptions) followMessages(ctx context.Context, path string, q *listQuery, interval time.Duration) error {
	v, err := q.values(time.Now())
	if err != nil {
		return err
	}
	table := newStreamTable(o.stdout, messageColumns)
	seen := map[string]time.Time{}
	var newest time.Time
	pages := 1 // the first round reads the page asked for, the next every new page
	for {
		msgs, err := o.readMessages(ctx, path, v, pages)
		if ctx.Err() != nil {
			return nil // interrupted
		}
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if _, ok := seen[m.id.ID]; ok {
				continue
			}
			seen[m.id.ID] = m.id.CreatedAt
			newest = maxTime(newest, m.id.CreatedAt)
			if err := o.printFollowed(table, m.raw); err != nil {
				return err
			}
		}
		for id, at := range seen {
			if at.Before(newest.Add(-2 * followSlack)) {
				delete(seen, id)
			}
		}
		if !newest.IsZero() {
			v.Set("since", newest.Add(-followSlack).Format(time.RFC3339Nano))
		}
		v.Del("cursor")
		v.Set("limit", "250")
		pages = 40
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// readMessage is a message as read: what follow needs of it, and the API's
// JSON of it.
type readMessage struct {
	id  followedMessage
	raw json.RawMessage
}

// readMessages reads up to pages pages of messages at path with query v,
// and returns them oldest first.
func (o *clientOptions) readMessages(ctx context.Context, path string, v url.Values, pages int) ([]readMessage, error) {
	q := url.Values{}
	for k, vs := range v {
		q[k] = vs
	}
	var out []readMessage
	for range pages {
		raw, err := o.get(ctx, path, q)
		if err != nil {
			return nil, err
		}
		var page struct {
			Data       []json.RawMessage `json:"data"`
			NextCursor *string           `json:"next_cursor"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, fmt.Errorf("read the API's answer: %w", err)
		}
		for _, m := range page.Data {
			var id followedMessage
			if err := json.Unmarshal(m, &id); err != nil {
				return nil, fmt.Errorf("read the API's answer: %w", err)
			}
			out = append(out, readMessage{id: id, raw: m})
		}
		if page.NextCursor == nil {
			break
		}
		q.Set("cursor", *page.NextCursor)
	}
	slices.SortStableFunc(out, func(a, b readMessage) int { return a.id.CreatedAt.Compare(b.id.CreatedAt) })
	return out, nil
}

// printFollowed prints one followed message: its JSON on a line, or a row
// of table.
func (o *clientOptions) printFollowed(table *streamTable, raw json.RawMessage) error {
	if o.json() {
		return o.printRaw(raw)
	}
	var row map[string]any
	if err := decodeJSON(raw, &row); err != nil {
		return err
	}
	return table.write(row)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// attemptsCommand is "shiphook attempts": GET
// /v1/messages/{message_id}/attempts, /v1/attempts (or a partner's) and
// /v1/attempts/{attempt_id}.
func attemptsCommand(o *clientOptions) *cobra.Command {
	var lq listQuery
	list := &cobra.Command{
		Use:   "list MESSAGE",
		Short: "List a message's attempts, in order",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			return o.list(c, client.Path("v1", "messages", args[0], "attempts"), &lq, attemptColumns)
		},
	}
	pageFlags(list, &lq)

	var sq listQuery
	var partner string
	var failed bool
	search := &cobra.Command{
		Use:     "search",
		Short:   "Search attempts, newest first",
		Example: "  shiphook attempts search --failed --error-class timeout --since 1h",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			path := "/v1/attempts"
			if partner != "" {
				path = client.Path("v1", "partners", partner, "attempts")
			}
			if failed {
				sq.filters["failed"] = ptr(strconv.FormatBool(failed))
			}
			return o.list(c, path, &sq, attemptColumns)
		},
	}
	f := search.Flags()
	f.StringVar(&partner, "partner", "", "only the partner's attempts")
	sq.filter(f, "endpoint", "endpoint_id", "an endpoint id")
	sq.filter(f, "message", "message_id", "a message id")
	sq.filter(f, "shipment", "shipment_id", "a shipment id")
	sq.filter(f, "event-type", "event_type", "an event type")
	sq.filter(f, "error-class", "error_class", "dns, connect, tls, timeout, http_status, redirect, ssrf_blocked, purged, no_dcsa_form")
	f.BoolVar(&failed, "failed", false, "only failed attempts")
	sq.timeFilter(f, "since", "started from")
	sq.timeFilter(f, "until", "started before")
	pageFlags(search, &sq)

	return o.group("attempts", "List a message's delivery attempts, search them, show one", list, search,
		o.getCommand("get ATTEMPT", "Show an attempt with its request and response", func(a []string) string { return client.Path("v1", "attempts", a[0]) }),
	)
}

func ptr[T any](v T) *T { return &v }

// retryCommand is "shiphook retry": POST /v1/messages/{message_id}/retry.
func retryCommand(o *clientOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "retry MESSAGE",
		Short: "Attempt a message's delivery again now; if it fails, the rest of the schedule follows",
		Args:  argsExactly(1),
		RunE: func(c *cobra.Command, args []string) error {
			raw, err := o.send(c.Context(), "POST", client.Path("v1", "messages", args[0], "retry"), nil)
			if err != nil {
				return err
			}
			return o.printObject(raw)
		},
	}
	o.addFlags(c)
	return c
}

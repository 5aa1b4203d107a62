package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shiphook/shiphook/internal/client"
)

// feedFlags are the settings of "shiphook feed".
type feedFlags struct {
	url, key, partner, endpoint, after string
	limit                              int
	follow                             bool
}

// runFeed is "shiphook feed": it reads a pull endpoint's feed with a
// partner key and prints each message on a line of its own, as JSON, the
// envelope the feed gives. It acknowledges a page by reading the next with
// its cursor, only once the page is written out. Without --follow it stops
// at the first empty page, every message printed then acknowledged; with
// it, it waits for more (long polls of 30 s) until interrupted. It keeps
// nothing itself: the feed remembers what was acknowledged, and the last
// cursor is printed to stderr for a later --after.
func runFeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shiphook feed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f feedFlags
	fs.StringVar(&f.url, "url", envOr(getenv, "SHIPHOOK_URL", "http://127.0.0.1:8080"), "shiphook's API ($SHIPHOOK_URL)")
	fs.StringVar(&f.key, "key", "", "a partner API key, or an admin key (default $SHIPHOOK_KEY; $SHIPHOOK_API_KEY still works)")
	fs.StringVar(&f.partner, "partner", getenv("SHIPHOOK_PARTNER"), "the partner's id ($SHIPHOOK_PARTNER)")
	fs.StringVar(&f.endpoint, "endpoint", getenv("SHIPHOOK_ENDPOINT"), "the pull endpoint's id ($SHIPHOOK_ENDPOINT)")
	fs.StringVar(&f.after, "after", "", "read after this cursor, acknowledging what is before it (default: from the first unacknowledged message)")
	fs.IntVar(&f.limit, "limit", 100, "messages per page, 1 to 500")
	fs.BoolVar(&f.follow, "follow", false, "keep reading, waiting for new messages, until interrupted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.key == "" {
		f.key = envOr(getenv, "SHIPHOOK_KEY", getenv("SHIPHOOK_API_KEY"))
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("feed: unexpected argument %q", fs.Arg(0))
	case f.key == "" || f.partner == "" || f.endpoint == "":
		return errors.New("feed: give --key, --partner and --endpoint (or $SHIPHOOK_KEY, $SHIPHOOK_PARTNER, $SHIPHOOK_ENDPOINT)")
	}
	return f.read(ctx, stdout, stderr)
}

// envOr returns the environment variable name, or def if it is empty.
func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// feedPage is a page of the feed as "shiphook feed" reads it: each
// envelope kept as it came.
type feedPage struct {
	Data       []json.RawMessage `json:"data"`
	NextCursor string            `json:"next_cursor"`
}

// read reads pages until an empty one (or, following, until ctx ends),
// writing each envelope as a line.
func (f feedFlags) read(ctx context.Context, stdout, stderr io.Writer) error {
	out := bufio.NewWriter(stdout)
	cursor := f.after
	defer func() {
		if cursor != "" {
			fmt.Fprintf(stderr, "cursor: %s\n", cursor)
		}
	}()
	for {
		wait := 0
		if f.follow {
			wait = 30
		}
		page, err := f.page(ctx, cursor, wait)
		if err != nil {
			if f.follow && ctx.Err() != nil {
				return nil // interrupted
			}
			return err
		}
		for _, env := range page.Data {
			out.Write(env)
			out.WriteByte('\n')
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("feed: write: %w", err)
		}
		cursor = page.NextCursor
		if len(page.Data) == 0 && !f.follow {
			return nil
		}
	}
}

// page reads one page after cursor ("": from the first unacknowledged),
// waiting up to wait seconds for a message.
func (f feedFlags) page(ctx context.Context, cursor string, wait int) (feedPage, error) {
	q := url.Values{"limit": {fmt.Sprint(f.limit)}, "wait": {fmt.Sprint(wait)}}
	if cursor != "" {
		q.Set("after", cursor)
	}
	u := strings.TrimSuffix(f.url, "/") + "/v1/partners/" + url.PathEscape(f.partner) + "/endpoints/" + url.PathEscape(f.endpoint) + "/feed?" + q.Encode()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(wait)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return feedPage{}, fmt.Errorf("feed: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+f.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return feedPage{}, fmt.Errorf("feed: %w", &client.NetError{URL: f.url, Err: err})
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var answer struct {
			Error struct{ Code, Message string }
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 16<<10)).Decode(&answer)
		return feedPage{}, &feedError{
			text:   fmt.Sprintf("feed: %s answered %s: %s (%s)", f.url, resp.Status, answer.Error.Message, answer.Error.Code),
			status: resp.StatusCode,
		}
	}
	var page feedPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return feedPage{}, fmt.Errorf("feed: read the answer: %w", err)
	}
	return page, nil
}

// feedError is an answer of the API other than 200, with the exit status
// of the admin commands' (exitCode): a 4xx is the API refusing, a 5xx the
// API failing.
type feedError struct {
	text   string
	status int
}

func (e *feedError) Error() string { return e.text }

func (e *feedError) ExitCode() int {
	if e.status >= 500 {
		return exitAPIError
	}
	return exitRefused
}

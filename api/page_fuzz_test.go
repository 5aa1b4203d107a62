package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

// FuzzCursor sends arbitrary query strings to two lists, GET /v1/partners
// and GET /v1/messages, through the whole router. Every answer is 200 or
// a 422 naming the parameter at fault, never a 500. A list answer reads
// the page the query asked for: the cursor passed on as it is, and one
// item more than the limit (50 if none is given).
func FuzzCursor(f *testing.F) {
	for _, seed := range []string{
		"limit=1", "limit=1&cursor=acme", "cursor=zzz-no-such-partner", "limit=250", "limit=0", "limit=251",
		"limit=-1", "limit=+7", "limit=07", "limit=2.5", "limit=ten", "limit=99999999999999999999",
		"limit=1&limit=x", "limit=", "cursor=%00", "cursor=%ff%fe", "cursor=%zz", "cursor=a;b", "&&=&",
		"status=failed&since=2026-11-26T14:05:00Z&until=bad", "error_class=dns&limit=3",
	} {
		f.Add(seed)
	}
	a := newTestAPI(f)

	f.Fuzz(func(t *testing.T, rawQuery string) {
		q, _ := url.ParseQuery(rawQuery) // as the router reads it: bad pairs are dropped
		for _, path := range []string{"/v1/partners", "/v1/messages"} {
			a.store.mu.Lock()
			a.store.pages, a.store.queries = nil, nil
			a.store.mu.Unlock()

			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.URL.RawQuery = rawQuery
			req.Header.Set("Authorization", "Bearer "+adminKey)
			w := httptest.NewRecorder()
			a.ServeHTTP(w, req)
			var body map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), "%s", w.Body)

			if w.Code != http.StatusOK {
				require.Equal(t, http.StatusUnprocessableEntity, w.Code, "%s?%s: %s", path, rawQuery, w.Body)
				e := errorOf(t, body)
				require.Equal(t, "invalid_field", e["code"])
				require.Contains(t, q, e["field"], "the error names a parameter that was given: %v", e)
				continue
			}
			limit := 50
			if s := q.Get("limit"); s != "" {
				n, err := strconv.Atoi(s)
				require.NoError(t, err, "limit %q was accepted", s)
				require.True(t, n >= 1 && n <= 250, "limit %d was accepted", n)
				limit = n
			}
			want := subscriptions.Page{After: q.Get("cursor"), Limit: limit + 1}
			a.store.mu.Lock()
			asked := a.store.pages
			for _, mq := range a.store.queries {
				asked = append(asked, mq.Page)
			}
			a.store.mu.Unlock()
			require.Equal(t, []subscriptions.Page{want}, asked, "%s?%s", path, rawQuery)
			require.LessOrEqual(t, len(body["data"].([]any)), limit)
		}
	})
}

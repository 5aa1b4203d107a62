package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

func TestPagination(t *testing.T) {
	t.Run("limit bounds", func(t *testing.T) {
		a := newTestAPI(t)
		for _, limit := range []string{"0", "251", "-1", "ten", "2.5"} {
			status, body := a.do(t, "GET", "/v1/partners?limit="+limit, adminKey, nil)
			require.Equal(t, http.StatusUnprocessableEntity, status, limit)
			e := errorOf(t, body)
			require.Equal(t, "invalid_field", e["code"])
			require.Equal(t, "limit", e["field"])
			require.Equal(t, "must be a whole number from 1 to 250", e["message"])
		}
		require.Empty(t, a.store.pages, "a bad limit reads nothing")
		for _, limit := range []string{"1", "250"} {
			status, _ := a.do(t, "GET", "/v1/partners?limit="+limit, adminKey, nil)
			require.Equal(t, http.StatusOK, status, limit)
		}
		status, _ := a.do(t, "GET", "/v1/partners", adminKey, nil)
		require.Equal(t, http.StatusOK, status)
		// One more than the limit is asked for, to learn whether a next page exists.
		require.Equal(t, []int{2, 251, 51}, []int{a.store.pages[0].Limit, a.store.pages[1].Limit, a.store.pages[2].Limit})
	})

	t.Run("pages follow the cursor", func(t *testing.T) {
		a := newTestAPI(t)
		status, body := a.do(t, "GET", "/v1/partners?limit=1", adminKey, nil)
		require.Equal(t, http.StatusOK, status)
		require.Len(t, body["data"], 1)
		require.Equal(t, "acme", body["data"].([]any)[0].(map[string]any)["id"])
		require.Equal(t, true, body["has_more"])
		require.Equal(t, "acme", body["next_cursor"])

		status, body = a.do(t, "GET", "/v1/partners?limit=1&cursor=acme", adminKey, nil)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "globex", body["data"].([]any)[0].(map[string]any)["id"])
		require.Equal(t, false, body["has_more"])
		require.Contains(t, body, "next_cursor")
		require.Nil(t, body["next_cursor"], "the last page has a null cursor")
	})

	t.Run("a cursor past the end", func(t *testing.T) {
		// A cursor is the id the page starts after; one that names no
		// item is passed on as it is and answers what follows it.
		a := newTestAPI(t)
		status, body := a.do(t, "GET", "/v1/partners?cursor=zzz-no-such-partner", adminKey, nil)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, []any{}, body["data"], "an empty page is [], not null")
		require.Nil(t, body["next_cursor"])
		require.Equal(t, subscriptions.Page{After: "zzz-no-such-partner", Limit: 51}, a.store.pages[0])
	})
}

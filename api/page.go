package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/subscriptions"
)

const (
	defaultLimit = 50
	maxLimit     = 250
)

// parsePage reads the "limit" (1–250, default 50) and "cursor" query
// parameters. The page it returns asks for one item more than the limit, so
// that writeList can tell whether there is a next page. Returns a 422
// invalid_field error for a bad limit.
func parsePage(c *gin.Context) (subscriptions.Page, error) {
	p := subscriptions.Page{After: c.Query("cursor"), Limit: defaultLimit}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return subscriptions.Page{}, subscriptions.Fieldf("limit", "must be a whole number from 1 to 250")
		}
		p.Limit = n
	}
	p.Limit++
	return p, nil
}

// List is the shape of every list answer.
type List[T any] struct {
	Data []T `json:"data"`
	// NextCursor, passed as ?cursor=, returns the next page; null on the last.
	NextCursor *string `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
}

// writeList answers 200 with one page of items, fetched with a page from
// parsePage (one item too many when there is a next page); id gives an
// item's cursor.
func writeList[T any](c *gin.Context, page subscriptions.Page, items []T, id func(T) string) {
	out := List[T]{Data: items}
	if out.Data == nil {
		out.Data = []T{}
	}
	if len(items) >= page.Limit && page.Limit > 1 {
		out.Data = items[:page.Limit-1]
		next := id(out.Data[len(out.Data)-1])
		out.NextCursor, out.HasMore = &next, true
	}
	c.PureJSON(http.StatusOK, out)
}

// listWith answers one page of what list returns for the request's page.
func listWith[T any](c *gin.Context, list func(subscriptions.Page) ([]T, error), id func(T) string) {
	page, err := parsePage(c)
	if err != nil {
		abort(c, err)
		return
	}
	items, err := list(page)
	if err != nil {
		abort(c, err)
		return
	}
	writeList(c, page, items, id)
}

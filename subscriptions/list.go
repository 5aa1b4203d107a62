package subscriptions

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

const (
	defaultLimit = 50
	maxLimit     = 250
)

// ParsePage reads the "limit" (1–250, default 50) and "cursor" query
// parameters. The page it returns asks for one item more than the limit, so
// that WriteList can tell whether there is a next page.
func ParsePage(c *gin.Context) (Page, error) {
	p := Page{After: c.Query("cursor"), Limit: defaultLimit}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return Page{}, &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Field: "limit", Message: "must be a whole number from 1 to 250"}
		}
		p.Limit = n
	}
	p.Limit++
	return p, nil
}

// List is the shape of every list response.
type List[T any] struct {
	Data []T `json:"data"`
	// NextCursor, passed as ?cursor=, returns the next page; null on the last.
	NextCursor *string `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
}

// WriteList answers 200 with one page of items, fetched with a page from
// ParsePage (one item too many when there is a next page).
func WriteList[T any](c *gin.Context, page Page, items []T, id func(T) string) {
	out := List[T]{Data: items}
	if out.Data == nil {
		out.Data = []T{}
	}
	if len(items) >= page.Limit && page.Limit > 1 {
		out.Data = items[:page.Limit-1]
		next := id(out.Data[len(out.Data)-1])
		out.NextCursor, out.HasMore = &next, true
	}
	c.JSON(http.StatusOK, out)
}

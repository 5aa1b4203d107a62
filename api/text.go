package api

import (
	"maps"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/subscriptions"
)

// storableParams answers 422 invalid_field, naming the parameter, to a
// request with a path or query parameter that is not storable text (valid
// UTF-8 without NUL; see subscriptions.StorableText): no id holds such
// text and no filter can match it, and PostgreSQL would refuse to look it
// up. Path parameters are named first, then query parameters in the order
// of their names. A query parameter whose name is empty or not storable
// text is read by no handler, and is let be. Request bodies are checked as they are decoded
// (subscriptions.UnmarshalJSON), the Idempotency-Key header by
// dispatcher.ParseEvent.
func storableParams() gin.HandlerFunc {
	return func(c *gin.Context) {
		for _, p := range c.Params {
			if err := subscriptions.CheckText(p.Key, p.Value); err != nil {
				abort(c, err)
				return
			}
		}
		q := c.Request.URL.Query()
		for _, key := range slices.Sorted(maps.Keys(q)) {
			if key == "" || !subscriptions.StorableText(key) {
				continue
			}
			for _, v := range q[key] {
				if err := subscriptions.CheckText(key, v); err != nil {
					abort(c, err)
					return
				}
			}
		}
		c.Next()
	}
}

package api

// GET /dcsa/tnt/v2/events: a partner's DCSA feed, so that a DCSA Track &
// Trace 2.2 client polls shiphook as it would a carrier.

import (
	"bytes"
	"context"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

// DCSAPath is the path of the DCSA feed, as a DCSA client's base URL
// followed by the standard's /v2/events.
const DCSAPath = "/dcsa/tnt/v2/events"

// dcsaAPIVersion is the version of the standard the feed answers in,
// sent as API-Version on every answer.
const dcsaAPIVersion = "2.2.0"

type dcsaFeed interface {
	partnerGetter
	ListDCSAFeed(ctx context.Context, q dispatcher.DCSAFeedQuery) ([]dispatcher.DCSAFeedEntry, error)
}

// ListDCSAEvents handles GET /dcsa/tnt/v2/events: the DCSA events of the
// events whose parties include the caller's partner (an admin names the
// partner with partner_id), oldest first, filtered by DCSA's query
// parameters, as a JSON array of DCSA events, with the standard's paging
// headers: Current-Page, Next-Page while there is more, First-Page after
// the first page. Errors are shiphook's JSON errors, with API-Version.
func ListDCSAEvents(st dcsaFeed) gin.HandlerFunc {
	return func(c *gin.Context) {
		partnerID, err := dcsaPartner(c, st)
		if err != nil {
			abort(c, err)
			return
		}
		r, err := parseDCSAQuery(c.Request.URL.RawQuery)
		if err != nil {
			abort(c, err)
			return
		}
		r.q.PartnerID = partnerID
		limit := r.q.Limit
		r.q.Limit++
		entries, err := st.ListDCSAFeed(c.Request.Context(), r.q)
		if err != nil {
			abort(c, err)
			return
		}
		link := dcsaLinker{partner: c.Query("partner_id")}
		c.Header("Current-Page", link.to(c.Request.URL.RawQuery))
		if len(entries) > limit {
			entries = entries[:limit]
			c.Header("Next-Page", link.cursor(encodeDCSACursor(r.filter, entries[len(entries)-1].Place)))
		}
		if r.continued {
			c.Header("First-Page", link.to(r.filter.Encode()))
		}
		c.Data(http.StatusOK, "application/json", dcsaEvents(entries))
	}
}

// dcsaVersion sends API-Version on every answer of the DCSA feed, its
// errors included, as the standard asks.
func dcsaVersion() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("API-Version", dcsaAPIVersion)
		c.Next()
	}
}

// dcsaPartner returns whose feed the request reads: a partner key's
// partner; an admin's partner_id, which must name a partner.
func dcsaPartner(c *gin.Context, st partnerGetter) (string, error) {
	p := principalOf(c)
	id := c.Query("partner_id")
	if p.Role != subscriptions.RoleAdmin {
		if id != "" && id != p.PartnerID {
			return "", notFound("partner %s not found", id)
		}
		return p.PartnerID, nil
	}
	if id == "" {
		return "", subscriptions.Fieldf("partner_id", "is required with an admin key: the DCSA feed is a partner's; name whose to read")
	}
	if _, err := st.Partner(c.Request.Context(), id); err != nil {
		return "", err
	}
	return id, nil
}

// dcsaEvents renders entries as a JSON array of DCSA events.
func dcsaEvents(entries []dispatcher.DCSAFeedEntry) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for _, e := range entries {
		ev, ok := sources.DCSAEvent(dispatcher.CanonicalOf(e.Event))
		if !ok {
			continue // only events with a DCSA form join a feed
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.Write(ev)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// dcsaLinker writes the links of the paging headers: the feed's path
// with a query, and an admin's partner_id kept on it.
type dcsaLinker struct{ partner string }

func (l dcsaLinker) to(query string) string {
	if l.partner != "" {
		q, _ := url.ParseQuery(query)
		q.Set("partner_id", l.partner)
		query = q.Encode()
	}
	if query == "" {
		return DCSAPath
	}
	return DCSAPath + "?" + query
}

func (l dcsaLinker) cursor(cursor string) string {
	return l.to(url.Values{"cursor": {cursor}}.Encode())
}

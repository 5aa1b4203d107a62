package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/internal/openapicheck"
	"github.com/shiphook/shiphook/sources"
)

// getDCSA gets path (the feed's, with a query) with key and returns the
// status, the headers and the body.
func getDCSA(t *testing.T, s *server, key, path string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", s.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := openapicheck.Client(t).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, body
}

// feed gets a page of the feed at path and returns its events' eventIDs,
// after checking that it is an array of valid DCSA events.
func (d *dcsaOut) feed(t *testing.T, key, path string) ([]string, http.Header) {
	t.Helper()
	status, h, body := getDCSA(t, d.s, key, path)
	require.Equal(t, http.StatusOK, status, "%s: %s", path, body)
	require.Equal(t, "2.2.0", h.Get("API-Version"))
	events, err := d.schemas.Events(body)
	require.NoError(t, err, "%s: %s", path, body)
	ids := []string{}
	for _, ev := range events {
		var e struct{ EventID string }
		require.NoError(t, json.Unmarshal(ev, &e))
		ids = append(ids, e.EventID)
	}
	return ids, h
}

// dcsaIDs returns the DCSA eventIDs of the events named: derived from
// the id of one posted, the carrier's for the one relayed.
func (d *dcsaOut) dcsaIDs(names ...string) []string {
	out := []string{}
	for _, n := range names {
		if n == "relayed" {
			out = append(out, relayedEventID)
			continue
		}
		out = append(out, sources.DCSAEventID(d.posted[n], ""))
	}
	return out
}

// checkFeed: acme's DCSA client finds the six events with a DCSA form,
// filtered by each of DCSA's parameters; globex, no party, finds none;
// an admin reads acme's by naming it.
func (d *dcsaOut) checkFeed(t *testing.T) {
	t.Helper()
	acme, globex := partnerKey(t, d.s, "acme"), partnerKey(t, d.s, "globex")
	all := []string{"departed", "eta", "loaded", "issued", "booked", "relayed"}
	posted := all[:5]
	got, _ := d.feed(t, acme, "/dcsa/tnt/v2/events")
	require.ElementsMatch(t, d.dcsaIDs(all...), got, "every event with a DCSA form, and only those")
	_, _, body := getDCSA(t, d.s, acme, "/dcsa/tnt/v2/events")
	var listed []json.RawMessage
	require.NoError(t, json.Unmarshal(body, &listed))
	for i, ev := range listed {
		require.JSONEq(t, string(d.pushed[got[i]]), string(ev), "the feed lists the event as it was pushed")
	}
	for query, want := range map[string][]string{
		"eventType=TRANSPORT":                                    {"departed", "eta", "relayed"},
		"eventType=SHIPMENT,EQUIPMENT":                           {"loaded", "issued", "booked"},
		"transportEventTypeCode=ARRI":                            {"eta"},
		"transportEventTypeCode=DEPA,ARRI":                       {"departed", "eta", "relayed"},
		"equipmentEventTypeCode=LOAD":                            {"loaded"},
		"equipmentEventTypeCode=DISC":                            {},
		"shipmentEventTypeCode=ISSU":                             {"issued"},
		"shipmentEventTypeCode=CONF":                             {"booked"},
		"shipmentEventTypeCode=ISSU&equipmentEventTypeCode=LOAD": {},
		"carrierBookingReference=BK-D1":                          posted,
		"carrierBookingReference=BK-D2":                          {"relayed"},
		"carrierBookingReference=BK-OTHER":                       {},
		"transportDocumentReference=BL-D1":                       posted,
		"equipmentReference=MSCU4829172":                         {"loaded"},
		"eventCreatedDateTime:lte=2026-11-20T08:05:00Z":          {"eta", "issued", "booked"},
		"eventCreatedDateTime:gte=2026-11-20T09:05:00%2B01:00":   all,
		"eventCreatedDateTime:gte=2099-01-01T00:00:00Z":          {},
		"limit=2&eventType=TRANSPORT":                            {"departed", "eta"},
	} {
		got, _ := d.feed(t, acme, "/dcsa/tnt/v2/events?"+query)
		require.ElementsMatch(t, d.dcsaIDs(want...), got, query)
	}
	got, _ = d.feed(t, globex, "/dcsa/tnt/v2/events")
	require.Empty(t, got, "a partner that is no party finds none")
	got, _ = d.feed(t, globex, "/dcsa/tnt/v2/events?carrierBookingReference=BK-D1")
	require.Empty(t, got)
	status, _, _ := getDCSA(t, d.s, globex, "/dcsa/tnt/v2/events?partner_id=acme")
	require.Equal(t, http.StatusNotFound, status, "a partner key reads its own feed only")
	got, _ = d.feed(t, adminKey, "/dcsa/tnt/v2/events?partner_id=acme")
	require.ElementsMatch(t, d.dcsaIDs(all...), got)
}

// checkFeedPages: with limit=2 the client follows Next-Page through three
// pages, each event once and in the feed's order, First-Page leading back.
func (d *dcsaOut) checkFeedPages(t *testing.T) {
	t.Helper()
	acme := partnerKey(t, d.s, "acme")
	first, _ := d.feed(t, acme, "/dcsa/tnt/v2/events")
	var got []string
	path, pages := "/dcsa/tnt/v2/events?limit=2", 0
	for path != "" {
		ids, h := d.feed(t, acme, path)
		require.Equal(t, path, h.Get("Current-Page"))
		if pages == 0 {
			require.Empty(t, h.Get("First-Page"))
		} else {
			require.Equal(t, "/dcsa/tnt/v2/events?limit=2", h.Get("First-Page"))
		}
		got = append(got, ids...)
		path = h.Get("Next-Page")
		pages++
		require.LessOrEqual(t, pages, 3)
	}
	require.Equal(t, 3, pages)
	require.Equal(t, first, got, "the pages together are the feed, in order")
}

// checkFeedRefusals: hostile or mistaken parameters get a 4xx with a
// stable code and a message that names the parameter.
func (d *dcsaOut) checkFeedRefusals(t *testing.T) {
	t.Helper()
	acme := partnerKey(t, d.s, "acme")
	_, h, _ := getDCSA(t, d.s, acme, "/dcsa/tnt/v2/events?limit=1")
	next := h.Get("Next-Page")
	require.NotEmpty(t, next)
	for query, field := range map[string]string{
		"limit=0":                            "limit",
		"limit=abc":                          "limit",
		"limit=100000":                       "limit",
		"eventType=OPERATIONS":               "eventType",
		"transportEventTypeCode=ARRI,GTIN":   "transportEventTypeCode",
		"sort=eventCreatedDateTime:DESC":     "query",
		"cursor=bm90IGEgY3Vyc29y":            "cursor",
		"cursor=%00%FF":                      "cursor",
		"eventCreatedDateTime:gte=yesterday": "eventCreatedDateTime:gte",
		"eventCreatedDateTime:gte=2026-12-01T00:00:00Z&eventCreatedDateTime:lte=2026-11-01T00:00:00Z": "eventCreatedDateTime",
		"carrierBookingReference=" + strings.Repeat("B", 36):                                          "carrierBookingReference",
		"carrierBookingReference=A&carrierBookingReference=B":                                         "carrierBookingReference",
		"equipmentReference=%00": "equipmentReference",
		"x=%zz":                  "query",
		strings.TrimPrefix(next, "/dcsa/tnt/v2/events?") + "&limit=3": "cursor",
	} {
		status, h, body := getDCSA(t, d.s, acme, "/dcsa/tnt/v2/events?"+query)
		require.True(t, status >= 400 && status < 500, "%s: %d %s", query, status, body)
		var e struct {
			Error struct{ Code, Message, Field string }
		}
		require.NoError(t, json.Unmarshal(body, &e), "%s: %s", query, body)
		require.NotEmpty(t, e.Error.Code, query)
		require.NotEmpty(t, e.Error.Message, query)
		require.Equal(t, field, e.Error.Field, "%s: %s", query, body)
		require.Equal(t, "2.2.0", h.Get("API-Version"), query)
	}
	status, _, body := getDCSA(t, d.s, adminKey, "/dcsa/tnt/v2/events")
	require.Equal(t, http.StatusUnprocessableEntity, status, "%s", body)
	status, _, _ = getDCSA(t, d.s, "", "/dcsa/tnt/v2/events")
	require.Equal(t, http.StatusUnauthorized, status)
}

package api

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

func TestParseDCSAQuery(t *testing.T) {
	r, err := parseDCSAQuery("eventType=TRANSPORT,SHIPMENT&eventType=TRANSPORT&shipmentEventTypeCode=ISSU&carrierBookingReference=BK-1" +
		"&eventCreatedDateTime:gte=2026-11-20T09:05:00%2B01:00&eventCreatedDateTime:lt=2026-11-21T00:00:00Z&limit=7&partner_id=acme")
	require.NoError(t, err)
	from, to := time.Date(2026, 11, 20, 8, 5, 0, 0, time.UTC), time.Date(2026, 11, 20, 23, 59, 59, 999999000, time.UTC)
	require.Equal(t, dispatcher.DCSAFeedQuery{EventTypes: []string{"TRANSPORT", "SHIPMENT"}, ShipmentCodes: []string{"ISSU"},
		Booking: "BK-1", CreatedFrom: &from, CreatedTo: &to, Limit: 7}, r.q)
	require.False(t, r.continued)
	require.False(t, r.filter.Has("partner_id"), "the partner is not the cursor's to carry")

	r, err = parseDCSAQuery("eventCreatedDateTime=2026-11-20T08:05:00Z")
	require.NoError(t, err)
	require.Equal(t, from, *r.q.CreatedFrom)
	require.Equal(t, from, *r.q.CreatedTo)
	require.Equal(t, dcsaDefaultLimit, r.q.Limit)
}

func TestDCSACursorCarriesTheQuery(t *testing.T) {
	first, err := parseDCSAQuery("equipmentEventTypeCode=LOAD&limit=2")
	require.NoError(t, err)
	place := dispatcher.DCSAFeedPlace{AddedAt: time.UnixMicro(1796561719674639).UTC(), EventID: "evt_1"}
	cursor := encodeDCSACursor(first.filter, place)
	next, err := parseDCSAQuery(url.Values{"cursor": {cursor}}.Encode())
	require.NoError(t, err)
	require.True(t, next.continued)
	require.Equal(t, &place, next.q.After)
	next.q.After = nil
	require.Equal(t, first.q, next.q)
	require.Equal(t, first.filter, next.filter)
}

func TestParseDCSAQueryRefuses(t *testing.T) {
	forged := encodeDCSACursor(url.Values{"sort": {"x"}}, dispatcher.DCSAFeedPlace{EventID: "e"})
	for query, field := range map[string]string{
		"limit=0":                          "limit",
		"limit=251":                        "limit",
		"limit=1e2":                        "limit",
		"eventType=":                       "eventType",
		"eventType=transport":              "eventType",
		"shipmentEventTypeCode=ISSU,,CONF": "shipmentEventTypeCode",
		"equipmentReference=":              "equipmentReference",
		"transportDocumentReference=" + "123456789012345678901": "transportDocumentReference",
		"eventCreatedDateTime:gte=2026-11-20":                   "eventCreatedDateTime:gte",
		"eventCreatedDateTime:after=2026-11-20T00:00:00Z":       "query",
		"UNLocationCode=NLRTM":                                  "query",
		"%zz":                                                   "query",
		"cursor=abc&cursor=def":                                 "cursor",
		"cursor=" + forged:                                      "cursor",
		"cursor=!!":                                             "cursor",
	} {
		_, err := parseDCSAQuery(query)
		var fe *subscriptions.FieldError
		require.ErrorAs(t, err, &fe, query)
		require.Equal(t, field, fe.Field, "%s: %v", query, err)
	}
}

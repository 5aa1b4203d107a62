package dispatcher

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

func TestNextDelay(t *testing.T) {
	now := time.Now()
	for n := 1; n < len(DefaultSchedule); n++ {
		want := DefaultSchedule[n]
		for range 200 {
			d, ok := nextDelay(DefaultSchedule, n, nil, now)
			require.True(t, ok)
			require.GreaterOrEqual(t, d, want*8/10, "attempt %d", n)
			require.LessOrEqual(t, d, want*12/10, "attempt %d", n)
		}
	}
	_, ok := nextDelay(DefaultSchedule, len(DefaultSchedule), nil, now)
	require.False(t, ok, "after the eighth attempt the schedule is exhausted")
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	resp := func(status int, ra string) *http.Response {
		return &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {ra}}}
	}
	tests := []struct {
		name     string
		resp     *http.Response
		min, max time.Duration
	}{
		{"honoured within bounds", resp(429, "420"), 7 * time.Minute, 7 * time.Minute},
		{"never sooner than scheduled", resp(503, "1"), 5 * time.Minute, 5 * time.Minute},
		{"at most twice the schedule", resp(503, "86400"), 10 * time.Minute, 10 * time.Minute},
		{"an HTTP date", resp(429, now.Add(8*time.Minute).Format(http.TimeFormat)), 8 * time.Minute, 8 * time.Minute},
		{"ignored on a 500", resp(500, "420"), 4 * time.Minute, 6 * time.Minute},
		{"garbage ignored", resp(429, "soon"), 4 * time.Minute, 6 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// After attempt 2 the schedule says 5 min.
			d, ok := nextDelay(DefaultSchedule, 2, tt.resp, now)
			require.True(t, ok)
			require.GreaterOrEqual(t, d, tt.min)
			require.LessOrEqual(t, d, tt.max)
		})
	}
}

func TestParseSchedule(t *testing.T) {
	s, err := ParseSchedule("0s,5s,5m,30m,2h,5h,10h,10h")
	require.NoError(t, err)
	require.Equal(t, DefaultSchedule, s)
	require.Equal(t, "0s,5s,5m,30m,2h,5h,10h,10h", FormatSchedule(s))
	s, err = ParseSchedule(FormatSchedule([]time.Duration{0, 90 * time.Second, 150 * time.Minute}))
	require.NoError(t, err)
	require.Equal(t, []time.Duration{0, 90 * time.Second, 150 * time.Minute}, s)
	for _, bad := range []string{"", "5s,10s", "0s,-1s", "0s,often"} {
		_, err := ParseSchedule(bad)
		require.Error(t, err, bad)
	}
}

func TestPayload(t *testing.T) {
	ev := Event{
		ID: "evt_1", Type: "shipment.milestone.delivered", OccurredAt: time.Date(2026, 11, 26, 14, 5, 0, 0, time.UTC),
		Shipment: Shipment{ID: "SHP-1", Mode: "ocean", References: subscriptions.References{PurchaseOrders: []string{"PO-7"}}},
		Parties:  []Party{{PartnerID: "acme", Role: "consignee"}, {PartnerID: "globex", Role: "shipper"}},
		Data:     json.RawMessage(`{"location":{"code":"NLRTM"},"signed_by":"J. \"Jo\" Doe"}`),
	}
	body, err := payload(ev, Message{PartnerID: "acme"})
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(body, &got), string(body))
	require.Equal(t, map[string]any{
		"type":      "shipment.milestone.delivered",
		"timestamp": "2026-11-26T14:05:00Z",
		"data": map[string]any{
			"event_id":  "evt_1",
			"shipment":  map[string]any{"id": "SHP-1", "mode": "ocean", "references": map[string]any{"purchase_orders": []any{"PO-7"}}},
			"role":      "consignee",
			"location":  map[string]any{"code": "NLRTM"},
			"signed_by": `J. "Jo" Doe`,
		},
	}, got)
	require.NotContains(t, string(body), "globex", "other parties are never shown")

	ev.Data = json.RawMessage(`{}`)
	body, err = payload(ev, Message{PartnerID: "erp"})
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"shipment.milestone.delivered","timestamp":"2026-11-26T14:05:00Z","data":{"event_id":"evt_1","shipment":{"id":"SHP-1","mode":"ocean","references":{"purchase_orders":["PO-7"]}}}}`, string(body))

	// A message of an ordered endpoint carries its number in its queue.
	body, err = payload(ev, Message{PartnerID: "erp", Sequence: 7})
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"shipment.milestone.delivered","timestamp":"2026-11-26T14:05:00Z","sequence":7,"data":{"event_id":"evt_1","shipment":{"id":"SHP-1","mode":"ocean","references":{"purchase_orders":["PO-7"]}}}}`, string(body))
}

func TestClassify(t *testing.T) {
	require.Equal(t, ErrorDNS, classify(&net.DNSError{Err: "no such host", Name: "x.invalid"}))
	require.Equal(t, ErrorBlocked, classify(&net.OpError{Op: "dial", Err: errBlocked}))
	require.Equal(t, ErrorConnect, classify(&net.OpError{Op: "dial", Err: errors.New("connection refused")}))
	require.Equal(t, ErrorTimeout, classify(&net.OpError{Op: "read", Err: timeoutErr{}}))
	require.Equal(t, ErrorTLS, classify(errors.New("remote error: tls: handshake failure")))
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func BenchmarkPayload(b *testing.B) {
	ev := Event{ID: "evt_1", Type: "shipment.milestone.delivered", OccurredAt: time.Now(), Shipment: Shipment{ID: "SHP-1", Mode: "ocean"},
		Data: json.RawMessage(`{"location":{"code":"NLRTM","name":"Rotterdam"},"signed_by":"J. Doe"}`)}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = payload(ev, Message{PartnerID: "acme"})
	}
}

func TestDeliveryTaskPayload(t *testing.T) {
	for _, dt := range []deliveryTask{
		{ID: "msg_1", Attempts: 0, EndpointID: "ep_1"},
		{ID: "msg_1", Attempts: 3, EndpointID: "ep_1", Manual: true},
	} {
		got, err := parseDeliveryTask([]byte(dt.payload()))
		require.NoError(t, err, dt.payload())
		require.Equal(t, dt, got)
	}
	for _, bad := range []string{"", "msg_1", "msg_1:x:ep_1", ":0:ep_1", "msg_1:0:ep_1:later", "msg_1:0:ep_1:manual:x"} {
		_, err := parseDeliveryTask([]byte(bad))
		require.Error(t, err, bad)
	}
}

// BenchmarkParseEvent reads, checks and validates a posted milestone, as
// POST /v1/events does before it stores it.
func BenchmarkParseEvent(b *testing.B) {
	raw := []byte(`{"id":"tms-4711","type":"shipment.milestone.departed","occurred_at":"2026-11-26T14:05:00Z",` +
		`"shipment":{"id":"SHP-4711","mode":"ocean","origin":"CNSHA","destination":"NLRTM","carrier":"MSCU"},` +
		`"parties":[{"partner_id":"acme","role":"shipper"},{"partner_id":"globex","role":"consignee"}],` +
		`"data":{"location":{"code":"CNSHA","name":"Shanghai"},"vessel":"MSC OSCAR","voyage":"FE547W"}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := ParseEvent(raw, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseEventYearInUTC checks that occurred_at's year range holds once
// the time is in UTC, as it is stored and delivered: an offset must not
// carry a time past 9999 or before 1970.
func TestParseEventYearInUTC(t *testing.T) {
	event := func(at string) []byte {
		return []byte(`{"type":"shipment.created","occurred_at":"` + at + `","shipment":{"id":"S"},"data":{}}`)
	}
	for _, at := range []string{"9999-12-31T23:59:59-23:59", "1970-01-01T00:00:00+01:00"} {
		_, err := ParseEvent(event(at), "")
		var fe *subscriptions.FieldError
		require.ErrorAs(t, err, &fe, at)
		require.Equal(t, "occurred_at", fe.Field)
	}
	ev, err := ParseEvent(event("1970-01-01T01:00:00+01:00"), "")
	require.NoError(t, err)
	require.Equal(t, time.Unix(0, 0).UTC(), ev.OccurredAt)
}

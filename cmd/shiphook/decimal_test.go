package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// TestDecimalsEndToEnd posts amounts as decimal strings and as JSON
// numbers, and a place by its UN/LOCODE, to a real server on PostgreSQL
// and on SQLite, and checks what a real receiver gets: every amount a
// decimal string with exactly the digits posted, the place an object. An
// event stored before amounts were strings, with a number in its data, is
// delivered with its amount as a string too.
func TestDecimalsEndToEnd(t *testing.T) {
	onBothDatabases(t, checkDecimals)
}

// moneyEvent is a posted event of typ for acme, with data as raw JSON.
func moneyEvent(id, typ, data string) string {
	return `{"id":"` + id + `","type":"` + typ + `","occurred_at":"2026-11-26T14:05:00Z",` +
		`"shipment":{"id":"SHP-` + id + `","mode":"ocean","origin":"CNSHA","destination":"NLRTM","carrier":"MSCU"},` +
		`"parties":[{"partner_id":"acme","role":"consignee"}],"data":` + data + `}`
}

func checkDecimals(t *testing.T, env map[string]string) {
	t.Helper()
	s := startServer(t, "serve", env)
	createPartners(t, s, "acme")
	rcv := newReceiver(t)
	createEndpoint(t, s, rcv, adminKey, "acme", "/money", map[string]any{
		"event_types": []string{"shipment.invoice.issued", "shipment.charge.updated", "shipment.milestone.arrived"}})

	posted := map[string]string{
		"inv-string": moneyEvent("inv-string", "shipment.invoice.issued", `{"invoice_number":"INV-1","amount":"12345678901234567.891","currency":"EUR"}`),
		"inv-number": moneyEvent("inv-number", "shipment.invoice.issued", `{"invoice_number":"INV-2","amount":2452.37,"currency":"EUR"}`),
		"charges": moneyEvent("charges", "shipment.charge.updated", `{"charges":[`+
			`{"code":"FRT","amount":0.30000000000000004,"currency":"USD"},`+
			`{"code":"BAF","amount":2.45237e3,"currency":"USD"},`+
			`{"code":"DEM","amount":"-120.00","currency":"EUR"}]}`),
		"arrived": moneyEvent("arrived", "shipment.milestone.arrived", `{"location":"NLRTM","vessel":"MSC OSCAR"}`),
	}
	for id, body := range posted {
		require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, body, nil), id)
	}
	storeOldEvent(t, env["DATABASE_URL"])

	require.Eventually(t, func() bool { return len(rcv.byPath("/money")) == 5 }, 20*time.Second, 20*time.Millisecond,
		"deliveries: %d of 5", len(rcv.byPath("/money")))
	got := map[string]delivery{}
	for _, d := range rcv.byPath("/money") {
		got[d.Data["shipment"].(map[string]any)["id"].(string)] = d
	}
	require.Contains(t, string(got["SHP-inv-string"].Body), `"amount":"12345678901234567.891"`)
	require.Contains(t, string(got["SHP-inv-number"].Body), `"amount":"2452.37"`)
	require.Contains(t, string(got["SHP-charges"].Body),
		`"charges":[{"code":"FRT","amount":"0.30000000000000004","currency":"USD"},{"code":"BAF","amount":"2452.37","currency":"USD"},{"code":"DEM","amount":"-120.00","currency":"EUR"}]`)
	require.Contains(t, string(got["SHP-arrived"].Body), `"location":{"code":"NLRTM"},"vessel":"MSC OSCAR"`)
	require.Contains(t, string(got["SHP-old"].Body), `"amount":"1250.50"`, "an event stored with a number is delivered with a string")

	// The API shows the events as stored: amounts as strings.
	var evs listOut[struct {
		SourceID string          `json:"source_id"`
		Data     json.RawMessage `json:"data"`
	}]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/events?type=shipment.invoice.issued", adminKey, nil, &evs))
	stored := map[string]string{}
	for _, ev := range evs.Data {
		stored[ev.SourceID] = string(ev.Data)
	}
	require.Equal(t, `{"invoice_number":"INV-1","amount":"12345678901234567.891","currency":"EUR"}`, stored["inv-string"])
	require.Equal(t, `{"invoice_number":"INV-2","amount":"2452.37","currency":"EUR"}`, stored["inv-number"])
}

// storeOldEvent writes an invoice to the database as ingest stored it
// before amounts were decimal strings: with the amount a JSON number. The
// reconciler finds it not fanned out and has it delivered.
func storeOldEvent(t *testing.T, databaseURL string) {
	t.Helper()
	st, err := store.Open(t.Context(), databaseURL)
	require.NoError(t, err)
	defer st.Close()
	now := time.Now().UTC()
	_, err = st.InsertEvents(t.Context(), []dispatcher.Event{{
		ID: subscriptions.NewID("evt"), SourceID: "old", Type: "shipment.invoice.issued", OccurredAt: now, CreatedAt: now,
		Shipment: dispatcher.Shipment{ID: "SHP-old"}, Parties: []dispatcher.Party{{PartnerID: "acme", Role: "consignee"}},
		Data: json.RawMessage(`{"invoice_number":"INV-OLD","amount":1250.50,"currency":"EUR"}`),
	}})
	require.NoError(t, err)
}

package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestConsoleNames walks an admin through the pages whose API answers
// name partners and endpoints by id only: the events, an event and the
// shipments found by a shared reference show each party by its partner's
// name; an endpoint's dead letters name it and its partner in their
// breadcrumb. It then creates an endpoint with trace context on through
// the form, and turns it off again by editing it.
func TestConsoleNames(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, "serve", consoleEnv(t))
	b.base = s.URL
	rcv := newReceiver(t)
	for id, name := range map[string]string{"acme": "Acme Imports", "globex": "Globex Corporation"} {
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": id, "name": name}, nil))
	}
	acme := createEndpoint(t, s, rcv, adminKey, "acme", "/acme", map[string]any{"description": "Acme TMS"})
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(0, ""), nil))
	for id, parties := range map[string][]map[string]any{
		"SHP-7001": {{"partner_id": "acme", "role": "shipper"}, {"partner_id": "globex", "role": "consignee"}},
		"SHP-7002": {{"partner_id": "globex", "role": "shipper"}},
	} {
		require.Equal(t, http.StatusCreated, call(t, "PUT", s.URL+"/v1/shipments/"+id, adminKey, map[string]any{
			"references": map[string]any{"booking": "BK-SHARED"}, "parties": parties,
		}, nil))
	}

	b.open("/events")
	b.signIn(adminKey)
	adminReadsEventParties(t, b)
	adminReadsShipmentParties(t, b)

	b.open("/partners/acme/endpoints/" + acme.ID + "/dead-letters")
	b.waitText("#crumb-endpoint", "Acme TMS")
	crumbs := b.text("header .crumbs")
	require.Contains(t, crumbs, "Acme Imports", "the partner by its name")
	require.NotContains(t, crumbs, acme.ID, "the endpoint by its description, not its id")
	b.shot("names-dead-letters")

	adminTogglesTraceContext(t, b, s, rcv)
}

// adminReadsEventParties reads the events page and the event: the parties
// show by their partners' names, none by its id.
func adminReadsEventParties(t *testing.T, b *browser) {
	t.Helper()
	b.waitText("main table tbody", "Acme Imports · shipper")
	require.Contains(t, b.text("main table tbody"), "Globex Corporation · consignee")
	require.Zero(t, eval[int](b, `[...document.querySelectorAll('main td.parties')].filter(td => /\b(acme|globex) ·/.test(td.innerText)).length`),
		"no party shows as its partner's id")
	b.shot("names-events")

	b.click(`//tbody//td[1]//a`)
	b.waitText("#event-parties", "Acme Imports · shipper")
	parties := b.text("#event-parties")
	require.Contains(t, parties, "Globex Corporation · consignee")
	require.NotContains(t, parties, "acme ·")
}

// adminReadsShipmentParties searches the booking two shipments share: the
// list of both shows their parties by name.
func adminReadsShipmentParties(t *testing.T, b *browser) {
	t.Helper()
	b.open("/shipments?q=BK-SHARED")
	b.waitText("main table tbody", "Acme Imports · shipper")
	rows := eval[[]string](b, `[...document.querySelectorAll('main table tbody tr')].map(r => r.innerText)`)
	require.Len(t, rows, 2, "%q", rows)
	for _, r := range rows {
		switch {
		case strings.Contains(r, "SHP-7001"):
			require.Contains(t, r, "Acme Imports · shipper")
			require.Contains(t, r, "Globex Corporation · consignee")
		case strings.Contains(r, "SHP-7002"):
			require.Contains(t, r, "Globex Corporation · shipper")
		default:
			t.Fatalf("unexpected row %q", r)
		}
		require.NotRegexp(t, `\b(acme|globex) ·`, r, "no party shows as its partner's id")
	}
	b.shot("names-shipments")
}

// adminTogglesTraceContext creates an endpoint of acme with the trace
// context box ticked, checks that the API has trace_context on and that
// disabling the endpoint keeps it, then unticks the box in the edit form
// and checks that the API has it off.
func adminTogglesTraceContext(t *testing.T, b *browser, s *server, rcv *receiver) {
	t.Helper()
	traceContext := func(path string) bool {
		t.Helper()
		var ep struct {
			TraceContext bool `json:"trace_context"`
		}
		require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1"+path, adminKey, nil, &ep))
		return ep.TraceContext
	}

	b.open("/partners/acme/endpoints/new")
	b.do("fill in the endpoint form with trace context",
		chromedp.WaitVisible(chromedp.CSS(`input[name="url"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="url"]`), rcv.URL+"/traced"),
		chromedp.SendKeys(chromedp.CSS(`input[name="description"]`), "Traced receiver"),
		chromedp.Click(chromedp.CSS(`input[name="trace_context"]`), chromedp.NodeVisible),
	)
	require.Contains(t, b.text("form"), "W3C traceparent", "the box says what it does")
	b.shot("names-endpoint-form-trace")
	b.click(`//button[normalize-space()='Create endpoint']`)
	b.waitText(".notice", "Endpoint created")
	ep := b.path()
	require.Regexp(t, `^/partners/acme/endpoints/ep_`, ep)
	require.True(t, traceContext(ep), "the ticked box turns trace context on")
	b.waitText("#endpoint-trace-context", "on")
	crumbs := b.text("header .crumbs")
	require.Contains(t, crumbs, "Acme Imports")
	require.Contains(t, crumbs, "Traced receiver")

	require.True(t, eval[bool](b, `(window.confirm = () => true, true)`), "answer yes to every confirmation")
	b.click(`//main//button[normalize-space()='Disable']`)
	b.waitText(".notice", "Endpoint disabled")
	require.True(t, traceContext(ep), "disabling the endpoint keeps trace context on")

	b.click(`//main//a[normalize-space()='Edit']`)
	b.do("wait for the edit form", chromedp.WaitVisible(chromedp.CSS(`input[name="trace_context"]`)))
	require.True(t, eval[bool](b, `document.querySelector('input[name="trace_context"]').checked`), "the form shows trace context on")
	b.click(`input[name="trace_context"]`)
	b.click(`//button[normalize-space()='Save endpoint']`)
	b.waitText(".notice", "Endpoint saved")
	b.waitText("#endpoint-trace-context", "off")
	require.False(t, traceContext(ep), "the unticked box turns trace context off")
	b.shot("names-endpoint-trace-off")
}

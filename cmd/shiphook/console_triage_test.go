package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// consoleTime is how the console writes every time: with the year, to the
// second, and the zone.
var consoleTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC([+-]\d{2}:\d{2})?$`)

// TestConsoleTriage walks an admin chasing a failing partner: the partner
// list shows which partner is in trouble, the message log names endpoints
// and partners and says why a delivery failed, and so do the message,
// attempt and shipment pages; every time shows its year and zone.
func TestConsoleTriage(t *testing.T) {
	b := newBrowser(t)
	env := with(consoleEnv(t),
		"SHIPHOOK_BREAKER_MIN_REQUESTS", "3",
		"SHIPHOOK_BREAKER_FAILURE_RATIO", "0.5",
		"SHIPHOOK_BREAKER_OPEN_FOR", "600s")
	s := startServer(t, "serve", env)
	b.base = s.URL
	rcv := newReceiver(t)
	acme := seedTriage(t, s, rcv)

	partnersShowHealth(t, s)
	listsCarryLabels(t, s, rcv)

	b.open("/partners")
	b.signIn(adminKey)
	adminSeesFailingPartner(t, b)
	adminReadsLabelledLog(t, b, rcv)
	adminReadsFailedMessage(t, b, rcv)
	b.open("/attempts?failed=true")
	b.waitText("main table tbody", "Acme TMS")
	require.Contains(t, b.text("main table tbody"), "Acme Imports", "an attempt names its partner")
	requireConsoleTimes(t, b)
	b.shot("triage-attempts")

	b.open("/shipments/SHP-0000")
	b.waitText("#timeline", "Acme TMS")
	timeline := b.text("#timeline")
	require.Contains(t, timeline, "Globex ERP")
	require.Contains(t, timeline, "(deleted)", "the deleted endpoint's delivery shows its id")
	require.Contains(t, timeline, "Acme Imports · shipper", "parties show by name")
	require.Contains(t, timeline, "503 Service Unavailable", "a failed delivery says why")
	requireConsoleTimes(t, b)
	b.shot("triage-timeline")

	b.open("/partners/acme/endpoints/" + acme + "/dead-letters")
	b.waitText("main table tbody", "503 Service Unavailable")
	require.Contains(t, b.text("main table tbody"), "Acme TMS")
}

// seedTriage creates the partners Acme Imports, whose endpoint "Acme
// TMS" answers 503, and Globex Corporation, whose "Globex ERP" takes
// everything; SHP-0000 goes to both and to Globex's "Old ERP", deleted
// afterwards. Three more events fail at Acme too and open its breaker
// (at the third failure), which holds Acme's messages of those after. It returns Acme's
// endpoint id.
func seedTriage(t *testing.T, s *server, rcv *receiver) string {
	t.Helper()
	for id, name := range map[string]string{"acme": "Acme Imports", "globex": "Globex Corporation"} {
		require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/partners", adminKey, map[string]any{"id": id, "name": name}, nil))
	}
	rcv.setAnswer("/acme", func(int) int { return http.StatusServiceUnavailable })
	acme := createEndpoint(t, s, rcv, adminKey, "acme", "/acme", map[string]any{"description": "Acme TMS"})
	createEndpoint(t, s, rcv, adminKey, "globex", "/globex", map[string]any{"description": "Globex ERP"})
	old := createEndpoint(t, s, rcv, adminKey, "globex", "/old", map[string]any{"description": "Old ERP"})

	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(0, ""), nil))
	require.Eventually(t, func() bool { return len(rcv.byPath("/old")) == 1 }, 20*time.Second, 50*time.Millisecond, "Old ERP gets SHP-0000")
	require.Equal(t, http.StatusNoContent, call(t, "DELETE", s.URL+"/v1/partners/globex/endpoints/"+old.ID, adminKey, nil, nil))

	count := func(status string) int {
		n := 0
		for _, m := range messagesOf(t, s, "acme", acme.ID) {
			if m.Status == status {
				n++
			}
		}
		return n
	}
	for i := 1; i < 4; i++ {
		require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(i, ""), nil))
	}
	require.Eventually(t, func() bool {
		var ep endpointFull
		call(t, "GET", s.URL+"/v1/partners/acme/endpoints/"+acme.ID, adminKey, nil, &ep)
		return count("failed") >= 3 && ep.Breaker != nil && ep.Breaker.State == "open"
	}, 20*time.Second, 50*time.Millisecond, "Acme's deliveries fail and its breaker opens")
	for i := 4; i < 6; i++ {
		require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(i, ""), nil))
	}
	require.Eventually(t, func() bool { return count("held") >= 2 }, 20*time.Second, 50*time.Millisecond,
		"the open breaker holds the messages after them")
	require.Eventually(t, func() bool {
		ms := messagesOf(t, s, "globex", "")
		for _, m := range ms {
			if m.Status != "succeeded" {
				return false
			}
		}
		return len(ms) == 7
	}, 20*time.Second, 50*time.Millisecond, "Globex's deliveries all succeed")
	return acme.ID
}

// partnersShowHealth reads the partner list with ?include=health from the
// API: Acme has a failing endpoint, an open breaker and messages waiting;
// Globex is healthy.
func partnersShowHealth(t *testing.T, s *server) {
	t.Helper()
	type health struct {
		Endpoints         int        `json:"endpoints"`
		EndpointsFailing  int        `json:"endpoints_failing"`
		EndpointsDisabled int        `json:"endpoints_disabled"`
		BreakersOpen      int        `json:"breakers_open"`
		OldestPendingAt   *time.Time `json:"oldest_pending_at"`
		OldestPendingAge  *float64   `json:"oldest_pending_age_seconds"`
	}
	var ps listOut[struct {
		ID     string  `json:"id"`
		Health *health `json:"health"`
	}]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners?include=health", adminKey, nil, &ps))
	got := map[string]*health{}
	for _, p := range ps.Data {
		got[p.ID] = p.Health
	}
	require.NotNil(t, got["acme"])
	a := *got["acme"]
	require.Equal(t, 1, a.Endpoints)
	require.Equal(t, 1, a.EndpointsFailing)
	require.Equal(t, 1, a.BreakersOpen)
	require.NotNil(t, a.OldestPendingAt, "Acme's held messages wait")
	require.Positive(t, *a.OldestPendingAge)
	require.Equal(t, health{Endpoints: 1}, *got["globex"], "Globex is healthy, its deleted endpoint gone")

	ps.Data = nil
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners", adminKey, nil, &ps))
	require.Nil(t, ps.Data[0].Health, "health only when asked for")
	require.Equal(t, http.StatusUnprocessableEntity, call(t, "GET", s.URL+"/v1/partners?include=everything", adminKey, nil, nil))
}

// adminSeesFailingPartner reads the partner list: Acme's row shows its
// failing endpoint, its open breaker and how long its oldest message has
// waited.
func adminSeesFailingPartner(t *testing.T, b *browser) {
	t.Helper()
	b.waitText("main table tbody", "Acme Imports")
	b.waitText("main table tbody", "1 open")
	acme := eval[string](b, `[...document.querySelectorAll('main table tbody tr')].find(r => r.innerText.includes('Acme Imports')).innerText`)
	require.Contains(t, acme, "1 failing")
	require.Contains(t, acme, "1 open")
	require.Regexp(t, `\d+ (s|min)`, acme, "the oldest pending message's age")
	globex := eval[string](b, `[...document.querySelectorAll('main table tbody tr')].find(r => r.innerText.includes('Globex Corporation')).innerText`)
	require.Contains(t, globex, "all healthy")
	require.Contains(t, globex, "all closed")
	requireConsoleTimes(t, b)
	b.shot("triage-partners")
}

// adminReadsLabelledLog reads the message log: endpoints by description
// and URL, partners by name, a deleted endpoint by its id, and why each
// failed delivery failed.
func adminReadsLabelledLog(t *testing.T, b *browser, rcv *receiver) {
	t.Helper()
	b.open("/messages")
	b.waitText(".list-footer", "Showing")
	rows := eval[[]string](b, `[...document.querySelectorAll('main table tbody tr')].map(r => r.innerText)`)
	var failed, deleted, globex int
	for _, r := range rows {
		switch {
		case strings.Contains(r, "failed"):
			failed++
			require.Contains(t, r, "Acme TMS", "the endpoint by its description")
			require.Contains(t, r, rcv.URL+"/acme", "and its URL")
			require.Contains(t, r, "Acme Imports", "the partner by its name")
			require.Contains(t, r, "503 Service Unavailable", "why it failed")
			require.Contains(t, r, "http_status")
		case strings.Contains(r, "(deleted)"):
			deleted++
			require.Contains(t, r, "ep_", "a deleted endpoint by its id")
			require.Contains(t, r, "Globex Corporation")
		case strings.Contains(r, "Globex ERP"):
			globex++
			require.Contains(t, r, "Globex Corporation")
		}
	}
	require.GreaterOrEqual(t, failed, 3, "%q", rows)
	require.Equal(t, 1, deleted, "%q", rows)
	require.Equal(t, 6, globex, "%q", rows)
	require.Zero(t, eval[int](b, `[...document.querySelectorAll('main table tbody td.endpoint')].filter(td => /^ep_\S+$/.test(td.innerText.trim())).length`),
		"no endpoint shows as a bare id")
	requireConsoleTimes(t, b)
	b.shot("triage-message-log")
}

// adminReadsFailedMessage opens a failed message: its endpoint, partner
// and the reason it failed show on its page.
func adminReadsFailedMessage(t *testing.T, b *browser, rcv *receiver) {
	t.Helper()
	b.click(`//tr[contains(., 'failed')]//td[1]//a`)
	b.waitText("#message-status", "failed")
	require.Contains(t, b.text("#message-endpoint"), "Acme TMS")
	require.Contains(t, b.text("#message-endpoint"), rcv.URL+"/acme")
	require.Contains(t, b.text("#message-partner"), "Acme Imports")
	require.Contains(t, b.text("#message-last-result"), "503 Service Unavailable")
	b.waitText("main", "Attempt 1")
	requireConsoleTimes(t, b)
	b.shot("triage-message")
	b.click(`//a[normalize-space()='Attempt 1']`)
	b.waitText("#attempt-endpoint", "Acme TMS")
	require.Contains(t, b.text("#attempt-partner"), "Acme Imports")
	requireConsoleTimes(t, b)
}

// requireConsoleTimes checks that the page shows times, each with a
// four-digit year and its zone.
func requireConsoleTimes(t *testing.T, b *browser) {
	t.Helper()
	times := eval[[]string](b, `[...document.querySelectorAll('main time')].map(t => t.textContent)`)
	require.NotEmpty(t, times, "the page shows times")
	for _, s := range times {
		require.Regexp(t, consoleTime, s)
	}
}

// listsCarryLabels reads the failed messages and attempts from the API:
// each names its endpoint and partner, and a message why it failed.
func listsCarryLabels(t *testing.T, s *server, rcv *receiver) {
	t.Helper()
	type labelled struct {
		EndpointURL         string `json:"endpoint_url"`
		EndpointDescription string `json:"endpoint_description"`
		EndpointDeleted     bool   `json:"endpoint_deleted"`
		PartnerName         string `json:"partner_name"`
		LastErrorClass      string `json:"last_error_class"`
		LastError           string `json:"last_error"`
	}
	want := labelled{EndpointURL: rcv.URL + "/acme", EndpointDescription: "Acme TMS", PartnerName: "Acme Imports",
		LastErrorClass: "http_status", LastError: "503 Service Unavailable"}
	var ms listOut[labelled]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/messages?status=failed", adminKey, nil, &ms))
	require.NotEmpty(t, ms.Data)
	for _, m := range ms.Data {
		require.Equal(t, want, m)
	}
	var as listOut[labelled]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/attempts?failed=true", adminKey, nil, &as))
	require.NotEmpty(t, as.Data)
	for _, a := range as.Data {
		require.Equal(t, labelled{EndpointURL: want.EndpointURL, EndpointDescription: want.EndpointDescription, PartnerName: want.PartnerName}, a)
	}
}

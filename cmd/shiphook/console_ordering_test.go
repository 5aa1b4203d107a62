package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestConsoleOrdered walks an admin through ordering an endpoint by
// shipment with on_failure block on the endpoint form, then finding the
// failed message that stops its shipment and discarding it, after which
// the next message of the shipment, numbered 2, is delivered.
func TestConsoleOrdered(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, "serve", consoleEnv(t))
	b.base = s.URL
	rcv := newReceiver(t)
	down := failWhile(rcv, "/ordered")
	createPartners(t, s, "acme", "globex")
	ep := createEndpoint(t, s, rcv, adminKey, "acme", "/ordered", map[string]any{})

	b.open("/partners/acme/endpoints/" + ep.ID + "/edit")
	b.signIn(adminKey)
	b.do("order the endpoint by shipment, blocking on failure",
		chromedp.WaitVisible(chromedp.CSS(`select[name="ordering"]`)),
		chromedp.SetValue(chromedp.CSS(`select[name="ordering"]`), "shipment"),
		chromedp.SetValue(chromedp.CSS(`select[name="on_failure"]`), "block"),
	)
	b.click(`//button[normalize-space()='Save endpoint']`)
	b.waitText(".notice", "Endpoint saved")
	b.waitText("#endpoint-ordering", "by shipment; a failed message stops its shipment (block)")
	b.shot("endpoint-ordered")

	for n := 1; n <= 2; n++ {
		_, err := postOne(s.URL, shipmentEvent("SHP-CON", n))
		require.NoError(t, err)
	}
	var first, second orderedMessage
	require.Eventually(t, func() bool {
		q := orderedMessages(t, s, ep.ID, "SHP-CON")
		first, second = q[1], q[2]
		return first.Status == "failed" && second.Status == "waiting"
	}, 30*time.Second, 50*time.Millisecond)
	down.Store(false)

	b.open("/messages/" + second.ID)
	b.waitText("#message-status", "waiting")
	require.Contains(t, b.text("main"), "once the earlier message of its shipment to this endpoint has ended")
	require.Contains(t, b.text("#message-sequence"), "2 of its shipment")

	b.open("/messages/" + first.ID)
	b.waitText("#message-status", "failed")
	b.click("#discard")
	b.waitText(".notice", "Discarded")
	b.waitText("#message-status", "discarded")
	b.shot("message-discarded")

	b.open("/messages/" + second.ID)
	b.waitText("#message-status", "succeeded")
	got := rcv.byPath("/ordered")
	require.Len(t, got, 1)
	require.Equal(t, 2.0, got[0].Raw["sequence"])
	var m orderedMessage
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/messages/"+first.ID, adminKey, nil, &m))
	require.Equal(t, "discarded", m.Status, "the discarded message stays in the log")
}

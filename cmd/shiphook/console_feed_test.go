package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestConsoleFeed walks a partner through creating a pull endpoint in the
// console, seeing its unread messages, reading the next page of its feed
// and acknowledging it.
func TestConsoleFeed(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, "serve", consoleEnv(t))
	b.base = s.URL
	createPartners(t, s, "acme", "globex")
	key := partnerKey(t, s, "acme")
	b.open("/")
	b.signIn(key)

	b.click(`//main//a[normalize-space()='New endpoint']`)
	b.do("choose a pull endpoint",
		chromedp.WaitVisible(chromedp.CSS(`select[name="kind"]`)),
		chromedp.SetValue(chromedp.CSS(`select[name="kind"]`), "pull"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('select[name="kind"]').dispatchEvent(new Event('change', { bubbles: true }))`),
	)
	require.False(t, eval[bool](b, `!!document.querySelector('input[name="url"]').offsetParent`), "a pull endpoint has no URL to fill in")
	require.False(t, eval[bool](b, `!!document.querySelector('input[name="timeout_seconds"]').offsetParent`), "nor delivery options")
	b.do("describe it", chromedp.SendKeys(chromedp.CSS(`input[name="description"]`), "Acme ERP reads this"))
	b.shot("endpoint-pull-form")
	b.click(`//button[normalize-space()='Create endpoint']`)
	b.waitText(".notice", "Pull endpoint created")
	require.Contains(t, b.text("#endpoint-kind"), "pull")
	here := b.path()
	eid := strings.TrimPrefix(here, "/partners/acme/endpoints/")
	require.True(t, strings.HasPrefix(eid, "ep_"), here)

	for i := range 3 {
		require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(i, fmt.Sprintf("console-%d", i)), nil))
	}
	b.open(here)
	b.waitText("#feed-unread", "3")
	require.Contains(t, b.text("#feed-position"), "position 0")
	b.click(`//button[normalize-space()='Read next page']`)
	b.waitText("#feed-page", "SHP-0002")
	require.Equal(t, 3, eval[int](b, `document.querySelectorAll('#feed-page tbody tr').length`))
	b.shot("endpoint-pull-feed")
	// Reading from the console acknowledged nothing.
	var m listOut[messageOut]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners/acme/messages?status=pending&endpoint_id="+eid, key, nil, &m))
	require.Len(t, m.Data, 3)

	require.True(t, eval[bool](b, `(window.confirm = () => true, true)`), "answer yes to every confirmation")
	b.click(`//button[normalize-space()='Acknowledge these 3']`)
	b.waitText("#feed-page", "3 messages acknowledged")
	b.waitText("#feed-position", "position 3 of 3")
	b.waitText("#feed-unread", "0")
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/partners/acme/messages?status=succeeded&endpoint_id="+eid, key, nil, &m))
	require.Len(t, m.Data, 3, "acknowledged from the console, they are succeeded")
	b.click(`//button[normalize-space()='Read next page']`)
	b.waitText("#feed-page", "Nothing unread")

	b.open("/partners/acme")
	b.waitText("main table", "pull feed "+eid)
}

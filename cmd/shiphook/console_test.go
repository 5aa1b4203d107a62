package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// browser is one tab of a headless Chromium.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string // the URL of the shiphook server under test
	shots string // where screenshots go

	mu         sync.Mutex
	exceptions []string // uncaught JavaScript exceptions
}

// screenshotDir returns where the console tests save their screenshots:
// $SHIPHOOK_ARTIFACTS/screenshots, by default artifacts/screenshots at the
// root of the repository. It must run before the test changes directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("SHIPHOOK_ARTIFACTS")
	if root == "" {
		root = filepath.Join("..", "..", "artifacts")
	}
	dir, err := filepath.Abs(filepath.Join(root, "screenshots"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// newBrowser starts Debian's Chromium (or $SHIPHOOK_TEST_CHROMIUM) headless,
// with a fresh profile, and stops it when the test ends; the test sets base.
// A missing Chromium fails the test: make test installs it. Any uncaught
// JavaScript exception fails the test when it ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	shots := screenshotDir(t)
	execPath := os.Getenv("SHIPHOOK_TEST_CHROMIUM")
	if execPath == "" {
		execPath = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(execPath); err != nil {
		t.Fatalf("the console tests need Chromium, not found at %s (%v): run make test, which installs Debian's chromium package, or set SHIPHOOK_TEST_CHROMIUM to a Chromium binary", execPath, err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900), // a laptop's screen
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, shots: shots}
	_ = os.Remove(b.failedShot()) // from an earlier run
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	require.NoError(t, chromedp.Do(ctx), "start Chromium at %s", execPath)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		require.Empty(t, b.exceptions, "the console threw uncaught exceptions")
	})
	return b
}

// do runs steps, all within 30 s. On failure it saves a screenshot and
// logs the page's text before failing the test.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
		_ = os.WriteFile(b.failedShot(), png, 0o644)
		b.t.Logf("screenshot of the failure: %s", b.failedShot())
	}
	url, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	b.t.Fatalf("%s: %v\npage %s shows:\n%s", what, err, url, text)
}

func (b *browser) failedShot() string {
	return filepath.Join(b.shots, "FAILED-"+strings.ReplaceAll(b.t.Name(), "/", "-")+".png")
}

// open loads a console page (a path after /console) from scratch.
func (b *browser) open(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+"/console"+path))
	if err == nil && resp.Status != http.StatusOK {
		err = fmt.Errorf("GET /console%s answered %d %s; is the console in the route table?", path, resp.Status, resp.StatusText)
	}
	if err != nil {
		b.fail("open "+path, err)
	}
	b.do("wait for the console on "+path, chromedp.WaitReady(chromedp.CSS("#app > *")))
}

// click clicks the first visible element that sel (CSS or XPath) finds.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(sel, chromedp.NodeVisible))
}

// waitText waits until the element that css finds holds want in its text.
func (b *browser) waitText(css, want string) {
	b.t.Helper()
	b.do(fmt.Sprintf("wait for %q in %s", want, css), chromedp.PollFunction[chromedp.Void](
		`(sel, want) => { const el = document.querySelector(sel); return !!el && el.textContent.includes(want); }`,
		chromedp.WithPollingArgs(css, want), chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(25*time.Second)))
}

// text returns the text of the element that css finds.
func (b *browser) text(css string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css), chromedp.NodeVisible))
	if err != nil {
		b.fail("read "+css, err)
	}
	return s
}

// eval returns the value of a JavaScript expression, decoded into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluate "+expr, err)
	}
	return v
}

// path returns the path of the page on screen, after /console.
func (b *browser) path() string {
	b.t.Helper()
	return strings.TrimPrefix(eval[string](b, `location.pathname + location.search`), "/console")
}

// shot saves a PNG of the whole page as name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	// Let fonts and late rows settle.
	require.NoError(b.t, chromedp.Do(ctx, chromedp.Sleep(200*time.Millisecond)))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot "+name, err)
	}
	require.NoError(b.t, os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644))
}

// signIn signs in on the sign-in page with key and waits for the console.
func (b *browser) signIn(key string) {
	b.t.Helper()
	b.do("sign in",
		chromedp.WaitVisible(chromedp.ID("api-key")),
		chromedp.SendKeys(chromedp.ID("api-key"), key),
		chromedp.Click(`//button[normalize-space()='Sign in']`, chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(".topbar")),
	)
}

// consoleEnv is the server of the console tests: the embedded stores, one
// attempt per message, and deliveries to loopback allowed.
func consoleEnv(t *testing.T) map[string]string {
	t.Helper()
	t.Chdir(t.TempDir())
	return with(embeddedEnv(), "SHIPHOOK_ADMIN_KEY", adminKey, "SHIPHOOK_RETRY_SCHEDULE", "0s")
}

// TestConsoleAdmin walks an admin through finding a failed delivery by its
// shipment, reading its attempt, retrying it, following the shipment's
// timeline and recovering an endpoint's other failures.
func TestConsoleAdmin(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, "serve", consoleEnv(t))
	b.base = s.URL
	rcv := newReceiver(t)
	acme := seedConsoleLog(t, s, rcv)

	b.open("/messages")
	require.Equal(t, "/sign-in", b.path(), "a visitor without a key is asked for one")
	b.shot("sign-in")
	b.signIn(adminKey)
	require.Equal(t, "/messages", b.path(), "signing in goes on to the page asked for")

	adminPagesThroughLog(t, b)
	adminFiltersByShipment(t, b)
	adminReadsFailedAttempt(t, b, rcv)
	adminRetries(t, b)
	adminFollowsTimeline(t, b)
	adminRecoversEndpoint(t, b, rcv, acme)

	b.open("/partners")
	b.waitText("main table", "globex")
	b.shot("partners")
	require.Empty(t, rcv.invalidSignatures())
}

// seedConsoleLog creates the partners acme and globex, each with an
// endpoint at rcv, and posts 56 events over 55 shipments: three fail at
// once to acme, SHP-0001 departs and then arrives an hour later. It
// returns acme's endpoint once every delivery has arrived or failed.
func seedConsoleLog(t *testing.T, s *server, rcv *receiver) endpointOut {
	t.Helper()
	createPartners(t, s, "acme", "globex")
	rcv.setAnswer("/acme", func(int) int { return http.StatusInternalServerError })
	acme := createEndpoint(t, s, rcv, adminKey, "acme", "/acme", map[string]any{"description": "Acme TMS"})
	createEndpoint(t, s, rcv, adminKey, "globex", "/globex", map[string]any{"description": "Globex ERP"})

	// Three shipments; every delivery to acme fails at once.
	departed := event(1, "") // SHP-0001
	departed["occurred_at"] = time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	for _, ev := range []map[string]any{event(0, ""), departed, event(2, "")} {
		require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, ev, nil))
	}
	require.Eventually(t, func() bool {
		ms := messagesOf(t, s, "acme", acme.ID)
		for _, m := range ms {
			if m.Status != "failed" {
				return false
			}
		}
		return len(ms) == 3
	}, 20*time.Second, 50*time.Millisecond, "the deliveries to acme fail")
	rcv.setAnswer("/acme", func(int) int { return http.StatusOK })
	// SHP-0001 arrives an hour after it departed; then enough more
	// shipments for the log to take three pages.
	arrived := event(1, "")
	arrived["type"] = "shipment.milestone.arrived"
	arrived["occurred_at"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, arrived, nil))
	for i := 3; i < 55; i++ {
		require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, event(i, ""), nil))
	}
	require.Eventually(t, func() bool { return len(rcv.byPath("/globex")) == 56 && len(rcv.byPath("/acme")) == 53 },
		20*time.Second, 50*time.Millisecond, "the other deliveries arrive")
	return acme
}

// adminPagesThroughLog reads the whole message log, a page at a time.
func adminPagesThroughLog(t *testing.T, b *browser) {
	t.Helper()
	rowCount := func() int { return eval[int](b, `document.querySelectorAll('main table tbody tr').length`) }
	b.waitText(".list-footer", "Showing 50 messages")
	for _, want := range []int{100, 112} {
		b.click(`//button[normalize-space()='Load more']`)
		b.waitText(".list-footer", fmt.Sprintf("Showing %d messages", want))
		require.Equal(t, want, rowCount())
	}
	require.Zero(t, eval[int](b, `document.querySelectorAll('.list-footer button').length`), "no more pages")
}

// adminFiltersByShipment filters the message log by shipment SHP-0001.
func adminFiltersByShipment(t *testing.T, b *browser) {
	t.Helper()
	b.do("filter the message log by shipment",
		chromedp.WaitVisible(chromedp.CSS(`input[name="shipment_id"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="shipment_id"]`), "SHP-0001"),
		chromedp.Click(`//button[normalize-space()='Apply filters']`, chromedp.NodeVisible),
	)
	b.waitText(".list-footer", "Showing 4 messages")
	require.Contains(t, b.path(), "shipment_id=SHP-0001", "the filters are in the page's address")
	rows := eval[[]string](b, `[...document.querySelectorAll('main table tbody tr')].map(r => r.innerText)`)
	require.Len(t, rows, 4, "two events, each to acme and to globex: %q", rows)
	var failed int
	for _, r := range rows {
		require.Contains(t, r, "SHP-0001")
		if strings.Contains(r, "failed") {
			failed++
		}
	}
	require.Equal(t, 1, failed, "the first delivery to acme failed: %q", rows)
	b.shot("message-log")
}

// adminReadsFailedAttempt opens the failed message and its attempt.
func adminReadsFailedAttempt(t *testing.T, b *browser, rcv *receiver) {
	t.Helper()
	b.click(`//tr[contains(., 'failed')]//td[1]//a`)
	b.waitText("#message-status", "failed")
	b.waitText("main", "Attempt 1")
	b.shot("message-detail")
	b.click(`//a[normalize-space()='Attempt 1']`)
	b.waitText("#attempt-status-code", "500")
	b.waitText("#attempt-error-class", "http_status")
	require.Contains(t, b.text("main"), rcv.URL+"/acme", "the attempt shows where it was sent")
	b.shot("attempt-detail")
}

// adminRetries retries the failed message; the page follows the message
// until it is delivered.
func adminRetries(t *testing.T, b *browser) {
	t.Helper()
	b.click(`//a[normalize-space()='Back to the message']`)
	b.waitText("#message-status", "failed")
	b.click("#retry")
	b.waitText("#message-status", "succeeded")
	b.waitText("main", "Attempt 2")
	require.Contains(t, b.text("main"), "manual", "a retry is a manual attempt")
	b.shot("message-retried")
}

// adminFollowsTimeline follows the link to the shipment's timeline.
func adminFollowsTimeline(t *testing.T, b *browser) {
	t.Helper()
	b.click(`//header//a[normalize-space()='SHP-0001']`)
	b.waitText("#timeline", "shipment.milestone.departed")
	b.waitText("#timeline", "succeeded")
	require.Equal(t, "/shipments/SHP-0001", b.path())
	timeline := b.text("#timeline")
	require.Less(t, strings.Index(timeline, "shipment.milestone.departed"), strings.Index(timeline, "shipment.milestone.arrived"),
		"the events are in the order they happened:\n%s", timeline)
	require.Contains(t, timeline, "acme · shipper", "an admin sees the parties")
	require.Contains(t, timeline, "globex")
	b.shot("timeline")
}

// adminRecoversEndpoint recovers the endpoint's other two failures in
// bulk.
func adminRecoversEndpoint(t *testing.T, b *browser, rcv *receiver, acme endpointOut) {
	t.Helper()
	b.open("/partners/acme/endpoints/" + acme.ID + "/dead-letters")
	b.waitText("main table tbody", "SHP-0002")
	require.Equal(t, 2, eval[int](b, `document.querySelectorAll('main table tbody tr').length`))
	b.shot("dead-letters")
	b.open("/partners/acme/endpoints/" + acme.ID)
	b.waitText("main", "Failures in a row")
	b.shot("endpoint-admin")
	b.click(`//button[normalize-space()='Recover']`)
	b.do("wait for the recovery to finish", chromedp.WaitVisible(chromedp.CSS(`#recover-progress[data-done="true"]`)))
	require.Equal(t, "Done: 2 failed messages requeued.", b.text("#recover-text"))
	b.do("scroll to the recovery", chromedp.ScrollIntoView(chromedp.ID("recover-progress")))
	b.shot("recovery-progress")
	require.Eventually(t, func() bool { return len(rcv.byPath("/acme")) == 56 }, 20*time.Second, 50*time.Millisecond,
		"the recovered messages are delivered")
	b.open("/partners/acme/endpoints/" + acme.ID + "/dead-letters")
	b.waitText("main", "No failed deliveries for this endpoint")
	b.shot("dead-letters-empty")
}

// TestConsolePartner walks a partner through creating an endpoint, sending
// it a test event and finding the delivery in its log, and checks what a
// partner may not see.
func TestConsolePartner(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, "serve", consoleEnv(t))
	b.base = s.URL
	rcv := newReceiver(t)
	createPartners(t, s, "acme", "globex")
	key := partnerKey(t, s, "acme")

	b.open("/")
	b.signIn(key)
	require.Equal(t, "/partners/acme", b.path(), "a partner starts on its endpoints")
	b.waitText("main", "No endpoints yet")
	navs := eval[[]string](b, `[...document.querySelectorAll('.topbar nav a')].map(a => a.textContent)`)
	require.Equal(t, []string{"Endpoints", "Messages", "Attempts", "Shipments"}, navs, "admin pages are not in a partner's navigation")
	b.shot("partner-endpoints-empty")

	secret := partnerCreatesEndpoint(t, b, rcv)
	const typ = "shipment.milestone.arrived"
	partnerSendsTestEvent(t, b, rcv, typ)
	partnerChangesEndpoint(t, b, secret)
	// Once the page has settled, a test event carries the header the edit kept.
	b.open(b.path())
	b.waitText("main", "Custom headers")
	partnerSendsTestEvent(t, b, rcv, typ)
	partnerFindsDelivery(t, b, typ)
	partnerMeetsLimits(t, b)
	signOutAndTurnAwayIngestKey(t, b, s)
}

// partnerCreatesEndpoint creates an endpoint at rcv's /partner, with a
// custom header, through the form, reveals its secret, gives it to rcv and
// returns it. The endpoint's page shows the header's value masked.
func partnerCreatesEndpoint(t *testing.T, b *browser, rcv *receiver) string {
	t.Helper()
	b.click(`//main//a[normalize-space()='New endpoint']`)
	b.do("fill in the endpoint form",
		chromedp.WaitVisible(chromedp.CSS(`input[name="url"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="url"]`), rcv.URL+"/partner"),
		chromedp.SendKeys(chromedp.CSS(`input[name="description"]`), "Acme receiver"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="headers"]`), "X-Partner-Token: "+headerToken),
	)
	b.shot("endpoint-form")
	b.click(`//button[normalize-space()='Create endpoint']`)
	b.waitText(".notice", "Endpoint created")
	require.Regexp(t, `^/partners/acme/endpoints/ep_`, b.path())
	created := b.text(".notice")

	// Its secret, revealed, is the one the notice showed once.
	b.click(`//button[normalize-space()='Reveal secret']`)
	secret := b.text("#endpoint-secret")
	require.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	require.Contains(t, created, secret)
	rcv.setSecret("/partner", secret)
	require.Contains(t, b.text("main"), "X-Partner-Token: ••••••alue")
	require.NotContains(t, b.text("main"), headerToken)
	return secret
}

// partnerSendsTestEvent sends the endpoint a test event of type typ, and
// checks that it arrives signed, with the endpoint's custom header.
func partnerSendsTestEvent(t *testing.T, b *browser, rcv *receiver, typ string) {
	t.Helper()
	before := len(rcv.byPath("/partner"))
	b.do("choose the test event type",
		chromedp.WaitVisible(chromedp.ID("test-type")),
		chromedp.SetValue(chromedp.ID("test-type"), typ),
	)
	b.click(`//button[normalize-space()='Send test event']`)
	b.waitText("#test-status", "succeeded")
	b.shot("endpoint-page")
	got := rcv.byPath("/partner")
	require.Len(t, got, before+1, "the receiver got the test event")
	require.Equal(t, typ, got[before].Type)
	require.Empty(t, rcv.invalidSignatures(), "the test event is signed with the endpoint's secret")
	require.Equal(t, headerToken, rcv.headersOf("/partner").Get("X-Partner-Token"), "the custom header is sent in full")
}

// partnerChangesEndpoint rotates the endpoint's secret, edits the
// endpoint, disables and enables it.
func partnerChangesEndpoint(t *testing.T, b *browser, secret string) {
	t.Helper()
	require.True(t, eval[bool](b, `(window.confirm = () => true, true)`), "answer yes to every confirmation")
	b.click(`//button[normalize-space()='Rotate secret']`)
	b.waitText("main", "Secret rotated")
	rotated := b.text("#endpoint-secret")
	require.NotEqual(t, secret, rotated)
	require.Contains(t, b.text("main"), secret, "the previous secret is shown with its expiry")
	b.click(`//main//a[normalize-space()='Edit']`)
	b.do("edit the endpoint",
		chromedp.WaitVisible(chromedp.CSS(`input[name="description"]`)),
		chromedp.SetValue(chromedp.CSS(`input[name="description"]`), "Acme receiver, arrivals"),
		chromedp.Click(chromedp.CSS(`input[value="shipment.milestone.arrived"]`)),
		chromedp.SetValue(chromedp.CSS(`input[name="filter.shipment.mode"]`), "ocean, air"),
	)
	b.click(`//button[normalize-space()='Save endpoint']`)
	b.waitText(".notice", "Endpoint saved")
	b.waitText("main", "Custom headers") // the details, loaded after the notice
	details := b.text("main")
	require.Contains(t, details, "Acme receiver, arrivals")
	require.Contains(t, details, "shipment.milestone.arrived")
	require.Contains(t, details, "shipment.mode is ocean or air")
	require.Contains(t, details, "X-Partner-Token: ••••••alue", "the form kept the masked header")
	b.click(`//main//button[normalize-space()='Disable']`)
	b.waitText(".notice", "Endpoint disabled")
	b.waitText("header .title-row", "disabled")
	b.click(`//main//button[normalize-space()='Enable']`)
	b.waitText(".notice", "Endpoint enabled")
	b.waitText("header .title-row", "enabled")
}

// partnerFindsDelivery finds the endpoint in the partner's list, with its
// health, the delivery of type typ in the partner's log, its attempt and
// the test shipment's timeline.
func partnerFindsDelivery(t *testing.T, b *browser, typ string) {
	t.Helper()
	// The endpoint in the partner's list, with its health.
	b.click(`//nav//a[normalize-space()='Endpoints']`)
	b.waitText("main table tbody", "Acme receiver, arrivals")
	b.waitText("main table tbody", "100 %")
	b.shot("partner-endpoints")

	// The delivery in the partner's log, and its attempt.
	b.click(`//nav//a[normalize-space()='Messages']`)
	b.waitText("main table tbody", typ)
	require.Equal(t, "/partners/acme/messages", b.path())
	require.Contains(t, b.text("main table tbody"), "succeeded")
	b.shot("partner-message-log")
	b.click(`//tbody//td[1]//a`)
	b.waitText("#message-status", "succeeded")
	require.Contains(t, b.text("#message-status"), "succeeded")
	b.click(`//a[normalize-space()='Attempt 1']`)
	b.waitText("#attempt-status-code", "200")
	require.Contains(t, b.text("main"), "webhook-signature", "the attempt shows the request's headers")
	b.shot("partner-attempt")

	// The test shipment's timeline.
	b.click(`//a[normalize-space()='Back to the message']`)
	b.waitText("#message-status", "succeeded")
	shipment := eval[string](b, `document.querySelector('header .subtitle a').textContent`)
	require.True(t, strings.HasPrefix(shipment, "TEST-"), shipment)
	b.click(`//header//a[starts-with(normalize-space(), 'TEST-')]`)
	b.waitText("#timeline", typ)
	b.waitText("#timeline", "succeeded")
	b.shot("partner-timeline")
}

// partnerMeetsLimits checks that an API error is shown with its code and
// that admin pages, opened directly, are refused.
func partnerMeetsLimits(t *testing.T, b *browser) {
	t.Helper()
	// An API error is shown with its code.
	b.open("/messages/msg_nosuchmessage")
	b.waitText(".error-state", "not_found")
	require.Contains(t, b.text(".error-state"), "HTTP 404")
	b.shot("error-state")

	// Admin pages, opened directly.
	for _, path := range []string{"/partners", "/messages", "/dead-letters"} {
		b.open(path)
		b.waitText("main h1", "This page is for admins")
	}
	b.shot("partner-admin-only")
}

// signOutAndTurnAwayIngestKey signs out, which forgets the key, and
// checks that an ingest key is turned away.
func signOutAndTurnAwayIngestKey(t *testing.T, b *browser, s *server) {
	t.Helper()
	b.open("/partners/acme")
	b.click(`//button[normalize-space()='Sign out']`)
	b.waitText("main", "Signed out")
	require.Equal(t, "/sign-in", b.path())
	require.Zero(t, eval[int](b, `sessionStorage.length`))
	var ingest struct {
		Key string `json:"key"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/api-keys", adminKey, map[string]any{"role": "ingest"}, &ingest))
	b.do("sign in with an ingest key",
		chromedp.SendKeys(chromedp.ID("api-key"), ingest.Key),
		chromedp.Click(`//button[normalize-space()='Sign in']`, chromedp.NodeVisible),
	)
	b.waitText(".error-state", "Ingest keys cannot use the console")
	require.Zero(t, eval[int](b, `sessionStorage.length`))
	b.shot("sign-in-ingest")
}

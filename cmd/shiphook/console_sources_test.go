package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The mapping of the console tests' warehouse source: a payload's status
// becomes an event type through the code table status, and its order
// names the shipment by purchase order.
const (
	warehouseProgram = `{
  id: .msg_id,
  type: (.status | code("status")),
  occurred_at: .ts,
  shipment: {references: {purchase_orders: [.order]}},
  data: {location: {code: .warehouse}}
}`
	// warehousePayloads are three payloads in one body: W-1 names a
	// registered shipment's order, W-2 has a status the code table lacks,
	// W-3 names an order no registered shipment has.
	warehousePayloads = `[
  {"msg_id": "W-1", "status": "RCV", "ts": "2026-11-30T08:00:00Z", "order": "PO-4711", "warehouse": "NLRTM"},
  {"msg_id": "W-2", "status": "XX", "ts": "2026-11-30T09:00:00Z", "order": "PO-4711", "warehouse": "NLRTM"},
  {"msg_id": "W-3", "status": "DSP", "ts": "2026-11-30T10:00:00Z", "order": "PO-9999", "warehouse": "NLRTM"}
]`
)

// TestConsoleSources walks an admin through a mapped source's items (a
// failed one found by its status and read in its original form; the
// mapping tried, fixed and saved; the item replayed), an event's origin, the unresolved events,
// a DCSA source's callback and a registered shipment found by a
// reference; then a partner opens a shipment it is party to and one it is
// not. It runs on SQLite and on PostgreSQL.
func TestConsoleSources(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		b := newBrowser(t) // before consoleEnv changes directory
		consoleSources(t, b, consoleEnv(t))
	})
	t.Run("postgres", func(t *testing.T) {
		env := testEnv(t)
		migrate(t, env)
		consoleSources(t, newBrowser(t), env)
	})
}

func consoleSources(t *testing.T, b *browser, env map[string]string) {
	s := startServer(t, "serve", env)
	b.base = s.URL
	createPartners(t, s, "acme", "globex")
	src := seedWarehouse(t, s)

	b.open("/sources")
	b.signIn(adminKey)
	require.Equal(t, "/sources", b.path())
	b.waitText("main table tbody", "Warehouse Rotterdam")
	require.Contains(t, b.text("main table tbody"), "mapped (jq program)")
	b.do("wait for the last item", chromedp.WaitVisible(chromedp.CSS("main table tbody td:nth-child(3) .badge")))
	require.Contains(t, []string{"accepted", "unmapped", "unresolved"}, b.text("main table tbody td:nth-child(3) .badge"))
	b.shot("sources")

	b.click(`//main//a[normalize-space()='Warehouse Rotterdam']`)
	b.waitText("#source-program", `code("status")`)
	b.waitText(".list-footer", "Showing 3 items")
	require.Contains(t, b.text("#source-url"), "/v1/sources/"+src+"/events", "the source's page says where its system posts")
	require.Contains(t, b.text("#source-codes"), "shipment.milestone.received", "and shows its code tables")
	b.shot("source")

	adminFindsUnmappedItem(t, b)
	adminFixesMapping(t, b)
	adminReplaysItem(t, b)
	adminFollowsItemToEvent(t, b)
	adminReadsUnresolved(t, b)
	adminReadsDCSACallback(t, b, s)
	adminOpensShipment(t, b, s)
	partnerOpensShipments(t, b, s)
}

// adminReadsDCSACallback creates a DCSA source with the form and finds on
// its page the callback URL and the secret to give the carrier.
func adminReadsDCSACallback(t *testing.T, b *browser, s *server) {
	t.Helper()
	b.open("/sources")
	b.click(`//summary[normalize-space()='New source']`)
	b.do("fill in the source form",
		chromedp.WaitVisible(chromedp.CSS(`input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "Carrier"),
		chromedp.SetValue(chromedp.CSS(`select[name="format"]`), "dcsa-tnt-2.2"),
	)
	b.click(`//button[normalize-space()='Create source']`)
	b.waitText(".notice", "Source Carrier created")
	b.waitText("main", "Callback URL")
	id := strings.TrimPrefix(b.path(), "/sources/")
	require.True(t, strings.HasPrefix(id, "src_"), id)
	require.Equal(t, s.URL+"/v1/sources/"+id+"/events", b.text("#source-url"))
	var secret struct{ Secret string }
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/sources/"+id+"/secret", adminKey, nil, &secret))
	b.click(`//button[normalize-space()='Reveal secret']`)
	b.waitText("#source-secret", secret.Secret)
	b.waitText("main", "No items yet")
	b.shot("source-dcsa")
}

// seedWarehouse registers SHP-100 (acme shipper, globex consignee) and
// SHP-200 (globex alone), creates the mapped source "Warehouse Rotterdam"
// and posts warehousePayloads to it. It returns the source's id.
func seedWarehouse(t *testing.T, s *server) string {
	t.Helper()
	require.Equal(t, http.StatusCreated, call(t, "PUT", s.URL+"/v1/shipments/SHP-100", adminKey, map[string]any{
		"mode": "ocean", "origin": "CNSHA", "destination": "NLRTM", "carrier": "MAEU",
		"references": map[string]any{
			"booking": "BK-100", "bill_of_lading": "MAEU100200300", "containers": []string{"APZU4812090"},
			"purchase_orders": []string{"PO-4711"}, "customer_references": []string{"ACME-REF-1"},
		},
		"parties": []map[string]any{{"partner_id": "acme", "role": "shipper"}, {"partner_id": "globex", "role": "consignee"}},
	}, nil))
	require.Equal(t, http.StatusCreated, call(t, "PUT", s.URL+"/v1/shipments/SHP-200", adminKey, map[string]any{
		"references": map[string]any{"booking": "BK-200"},
		"parties":    []map[string]any{{"partner_id": "globex", "role": "shipper"}},
	}, nil))

	var src struct{ ID string }
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/sources", adminKey, map[string]any{
		"name": "Warehouse Rotterdam", "format": "mapped",
		"mapping": map[string]any{"program": warehouseProgram, "codes": map[string]any{
			"status": map[string]string{"RCV": "shipment.milestone.received", "DSP": "shipment.milestone.departed"},
		}},
	}, &src))
	var ans struct {
		Items []struct{ Status string } `json:"items"`
	}
	require.Equal(t, http.StatusOK, call(t, "POST", s.URL+"/v1/sources/"+src.ID+"/events", adminKey, warehousePayloads, &ans))
	var got []string
	for _, it := range ans.Items {
		got = append(got, it.Status)
	}
	require.Equal(t, []string{"accepted", "unmapped", "unresolved"}, got)
	return src.ID
}

// itemsOnPage returns the status of each item listed, in order.
func itemsOnPage(b *browser) []string {
	b.t.Helper()
	return eval[[]string](b, `[...document.querySelectorAll('.item-list details.item')].map(d => d.dataset.status)`)
}

// adminFindsUnmappedItem filters the items by status unmapped and opens
// the one there on its error and original payload.
func adminFindsUnmappedItem(t *testing.T, b *browser) {
	t.Helper()
	b.click(`//nav[@aria-label='Item status']//a[normalize-space()='unmapped']`)
	b.waitText(".list-footer", "Showing 1 item")
	require.Contains(t, b.path(), "?status=unmapped", "the filter is in the page's address")
	require.Equal(t, []string{"unmapped"}, itemsOnPage(b))
	summary := b.text(".item-list details.item summary")
	require.Contains(t, summary, `no entry for "XX" in code table status`, "the summary says why")
	require.Regexp(t, `20\d\d`, summary, "the time shows its year")

	b.click(".item-list details.item summary")
	original := b.text(".item-list details.item .item-original")
	require.Contains(t, original, `"msg_id": "W-2"`, "the original is shown pretty-printed")
	require.Contains(t, original, `"status": "XX"`)
	require.NotContains(t, original, "W-1", "only this item's original")
	require.Contains(t, b.text(".item-list details.item .item-error"), "unknown_code")
	b.shot("source-item-unmapped")
}

// adminFixesMapping tries the mapping on a payload with the status XX,
// which fails, adds XX to the code table in the form, tries again, which
// works, and saves the mapping.
func adminFixesMapping(t *testing.T, b *browser) {
	t.Helper()
	b.click(`//summary[normalize-space()='Try or change the mapping']`)
	b.do("paste a payload",
		chromedp.WaitVisible(chromedp.ID("mapping-payload")),
		chromedp.SetValue(chromedp.ID("mapping-payload"),
			`[{"msg_id": "W-9", "status": "RCV", "ts": "2026-12-01T08:00:00Z", "order": "PO-1", "warehouse": "NLRTM"},`+
				`{"msg_id": "W-10", "status": "XX", "ts": "2026-12-01T08:00:00Z", "order": "PO-1", "warehouse": "NLRTM"}]`),
	)
	b.click(`//button[normalize-space()='Try the mapping']`)
	b.waitText("#mapping-result", "Item 2")
	result := b.text("#mapping-result")
	require.Contains(t, result, `"type": "shipment.milestone.received"`, "the first payload becomes an event")
	require.Contains(t, result, `"purchase_orders": [`)
	require.Contains(t, result, `no entry for "XX"`, "the second fails on its code")
	b.shot("source-mapping-test")

	b.do("add XX to the code table",
		chromedp.SetValue(chromedp.ID("mapping-codes"),
			`{"status": {"RCV": "shipment.milestone.received", "DSP": "shipment.milestone.departed", "XX": "shipment.milestone.departed"}}`))
	b.click(`//button[normalize-space()='Try the mapping']`)
	b.waitText("#mapping-result", "shipment.milestone.departed")
	result = b.text("#mapping-result")
	require.NotContains(t, result, "unmapped", "both payloads translate with the edited table:\n%s", result)
	b.click(`//button[normalize-space()='Save mapping']`)
	b.waitText(".notice", "Mapping saved")
	b.waitText("#source-codes", "XX")
	require.Contains(t, b.path(), "?status=unmapped", "the page keeps its filter")
}

// adminReplaysItem replays the unmapped item, which becomes accepted with
// one event now that the mapping knows its status.
func adminReplaysItem(t *testing.T, b *browser) {
	t.Helper()
	b.waitText(".list-footer", "Showing 1 item")
	b.click(".item-list details.item summary")
	b.click(`//details[@open]//button[normalize-space()='Replay']`)
	b.waitText(".item-list details.item .notice", "Replayed: accepted, 1 event")
	require.Equal(t, []string{"accepted"}, itemsOnPage(b))
	require.Contains(t, b.text(".item-list details.item summary"), "accepted")
	require.Regexp(t, `evt_`, b.text(".item-list details.item .item-events"), "the item links to the event it became")
	b.shot("source-item-replayed")

	b.open(b.path()) // the list, loaded again, has nothing unmapped left
	b.waitText("main", "No unmapped items")
}

// adminFollowsItemToEvent opens the accepted W-1 and follows it to its
// event, which names SHP-100 and shows the original it came from.
func adminFollowsItemToEvent(t *testing.T, b *browser) {
	t.Helper()
	b.click(`//nav[@aria-label='Item status']//a[normalize-space()='accepted']`)
	b.waitText(".list-footer", "Showing 2 items")
	require.Equal(t, []string{"accepted", "accepted"}, itemsOnPage(b), "W-1, and W-2 replayed")
	b.click(`//details[contains(@class,'item')][.//pre[contains(., '"W-1"')]]/summary`)
	b.click(`//details[@open]//div[contains(@class,'item-events')]//a`)
	b.waitText("#event-status", "resolved")
	require.Equal(t, "resolved", b.text("#event-status"))
	main := b.text("main")
	require.Contains(t, main, "shipment.milestone.received")
	require.Contains(t, main, "SHP-100", "the event was resolved to the shipment with its order")
	require.Contains(t, b.text("#event-original"), `"msg_id": "W-1"`)
	b.shot("event-from-source")
}

// adminReadsUnresolved finds W-3 among the source's unresolved items and
// its event among the unresolved events, with the order that matched
// nothing.
func adminReadsUnresolved(t *testing.T, b *browser) {
	t.Helper()
	b.click(`//nav//a[normalize-space()='Sources']`)
	b.click(`//main//a[normalize-space()='Warehouse Rotterdam']`)
	b.click(`//nav[@aria-label='Item status']//a[normalize-space()='unresolved']`)
	b.waitText(".list-footer", "Showing 1 item")
	require.Equal(t, []string{"unresolved"}, itemsOnPage(b))
	b.click(".item-list details.item summary")
	require.Contains(t, b.text(".item-list details.item .item-original"), `"order": "PO-9999"`)
	b.shot("source-item-unresolved")
	b.click(`//details[@open]//a[normalize-space()='Unresolved events']`)
	b.waitText(".list-footer", "Showing 1 event")
	require.Equal(t, "/events?status=unresolved", b.path())
	row := b.text("main table tbody")
	require.Contains(t, row, "PO-9999")
	require.Contains(t, row, "No registered shipment has these references")
	require.Contains(t, row, "shipment.milestone.departed")
	b.shot("events-unresolved")
}

// adminOpensShipment finds SHP-100 by its container and reads its
// references, parties and timeline; a shipment known only by its events
// says it is not registered.
func adminOpensShipment(t *testing.T, b *browser, s *server) {
	t.Helper()
	b.click(`//nav//a[normalize-space()='Shipments']`)
	b.do("search by a container",
		chromedp.WaitVisible(chromedp.CSS(`input[name="q"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), "APZU4812090"),
		chromedp.Click(`//button[normalize-space()='Find']`, chromedp.NodeVisible),
	)
	b.waitText("#shipment-references", "BK-100")
	require.Equal(t, "/shipments/SHP-100", b.path(), "the one shipment with the container opens")
	refs := b.text("#shipment-references")
	for _, want := range []string{"Booking: BK-100", "Bill of lading: MAEU100200300", "Containers: APZU4812090", "Purchase orders: PO-4711", "Customer references: ACME-REF-1"} {
		require.Contains(t, refs, want)
	}
	parties := b.text("#shipment-parties")
	require.Contains(t, parties, "acme")
	require.Contains(t, parties, "consignee")
	registered := b.text("#shipment-registered")
	require.Contains(t, registered, "CNSHA")
	require.Contains(t, registered, "MAEU")
	b.waitText("#timeline", "shipment.milestone.received")
	timeline := b.text("#timeline")
	require.Less(t, strings.Index(timeline, "shipment.milestone.received"), strings.Index(timeline, "shipment.milestone.departed"),
		"W-1 happened before W-2:\n%s", timeline)
	b.shot("shipment-registered")

	ev := event(0, "")
	ev["shipment"] = map[string]any{"id": "SHP-LOOSE"}
	require.Equal(t, http.StatusAccepted, call(t, "POST", s.URL+"/v1/events", adminKey, ev, nil))
	require.Eventually(t, func() bool {
		return call(t, "GET", s.URL+"/v1/shipments/SHP-LOOSE/timeline", adminKey, nil, nil) == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond)
	b.open("/shipments/SHP-LOOSE")
	b.waitText("#shipment-unregistered", "not registered")
	b.waitText("#timeline", ev["type"].(string))
	b.shot("shipment-unregistered")
}

// partnerOpensShipments signs in as acme: SHP-100, which it is party to,
// shows with acme as its only party; SHP-200 is not found, as is a search
// for its booking, and the sources are for admins.
func partnerOpensShipments(t *testing.T, b *browser, s *server) {
	t.Helper()
	key := partnerKey(t, s, "acme")
	b.click(`//button[normalize-space()='Sign out']`)
	b.waitText("main", "Signed out")
	b.open("/shipments/SHP-100")
	b.signIn(key)
	b.waitText("#shipment-references", "PO-4711")
	require.Equal(t, "/shipments/SHP-100", b.path())
	parties := b.text("#shipment-parties")
	require.Contains(t, parties, "acme")
	require.NotContains(t, parties, "globex", "a partner sees itself as the only party")
	b.shot("partner-shipment")

	b.open("/shipments/SHP-200")
	b.waitText("#shipment-not-found", "Shipment SHP-200 not found")
	require.Zero(t, eval[int](b, `document.querySelectorAll('.error-state').length`), "not found, not an error")
	b.shot("partner-shipment-not-found")

	b.open("/shipments?q=BK-200")
	b.waitText("main", "No registered shipment has the ID or reference BK-200")
	b.open("/sources")
	b.waitText("main h1", "This page is for admins")
}

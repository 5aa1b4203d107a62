package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/sources"
	"github.com/shiphook/shiphook/subscriptions"
)

func TestContainerNumbers(t *testing.T) {
	// ISO 6346's own example, and the DCSA specification's.
	require.Equal(t, byte('3'), subscriptions.ContainerCheckDigit("CSQU305438"))
	require.Equal(t, byte('0'), subscriptions.ContainerCheckDigit("APZU481209"))

	g := newSourceGen("r3", 3, targets{run: "r3", partners: []string{"bench-r3-p0"}})
	seen := map[string]bool{}
	for _, i := range []int{0, 1, 2, 999_999, 1_000_000, 1_234_567} {
		c := g.container(i)
		require.Regexp(t, `^BD[A-Z]U[0-9]{7}$`, c)
		require.Equal(t, subscriptions.ContainerCheckDigit(c), c[10], c)
		require.NoError(t, subscriptions.CheckContainer("containers[0]", c))
		require.False(t, seen[c], "%s given twice", c)
		seen[c] = true
	}
	other := newSourceGen("r4", 4, targets{run: "r4"})
	require.NotEqual(t, g.container(7), other.container(7), "runs have containers of their own")
}

func TestShipmentRegistration(t *testing.T) {
	g := newSourceGen("r1", 1, targets{run: "r1", partners: []string{"bench-r1-p0"}})
	var s struct {
		Mode, Origin, Destination, Carrier string
		References                         map[string]any
		Parties                            []struct {
			PartnerID string `json:"partner_id"`
			Role      string `json:"role"`
		}
	}
	require.NoError(t, json.Unmarshal(g.shipment(5), &s))
	require.Equal(t, "SHP-r1-5", g.shipmentID(5))
	require.Equal(t, map[string]any{"booking": "BK-r1-5", "containers": []any{g.container(5)}}, s.References)
	require.Len(t, s.Parties, 1)
	require.Equal(t, "bench-r1-p0", s.Parties[0].PartnerID, "the parties of the batch scenario's events")
	require.Equal(t, "CNSHA", s.Origin)

	// shiphook takes it as it is.
	reg, err := dispatcher.ParseShipment(g.shipmentID(5), g.shipment(5))
	require.NoError(t, err)
	require.Equal(t, "BK-r1-5", reg.References.Booking)
	require.Equal(t, []string{g.container(5)}, reg.References.Containers)
	require.Equal(t, "bench-r1-p0", reg.Parties[0].PartnerID)
}

// dcsaShape is a TransportEvent as the DCSA Track & Trace 2.2
// specification has it, with the fields it requires.
type dcsaShape struct {
	EventID                string `json:"eventID"`
	EventCreatedDateTime   string `json:"eventCreatedDateTime"`
	EventType              string `json:"eventType"`
	EventClassifierCode    string `json:"eventClassifierCode"`
	EventDateTime          string `json:"eventDateTime"`
	TransportEventTypeCode string `json:"transportEventTypeCode"`
	TransportCall          struct {
		TransportCallID string `json:"transportCallID"`
		ModeOfTransport string `json:"modeOfTransport"`
		UNLocationCode  string `json:"UNLocationCode"`
		Vessel          struct {
			VesselIMONumber string `json:"vesselIMONumber"`
		} `json:"vessel"`
	} `json:"transportCall"`
	DocumentReferences []struct {
		DocumentReferenceType  string `json:"documentReferenceType"`
		DocumentReferenceValue string `json:"documentReferenceValue"`
	} `json:"documentReferences"`
	References []struct {
		ReferenceType  string `json:"referenceType"`
		ReferenceValue string `json:"referenceValue"`
	} `json:"references"`
}

func TestDCSANotification(t *testing.T) {
	g := newSourceGen("r2", 2, targets{run: "r2", partners: []string{"bench-r2-p0"}})
	body := g.dcsaNotification(200, 300)
	var evs []dcsaShape
	require.NoError(t, json.Unmarshal(body, &evs))
	require.Len(t, evs, 100)
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids := map[string]bool{}
	for k, e := range evs {
		i := 200 + k
		require.Regexp(t, uuid, e.EventID)
		require.False(t, ids[e.EventID], "eventID %s given twice", e.EventID)
		ids[e.EventID] = true
		require.Equal(t, "TRANSPORT", e.EventType)
		require.Equal(t, "ACT", e.EventClassifierCode)
		require.Equal(t, map[bool]string{true: "DEPA", false: "ARRI"}[i%2 == 0], e.TransportEventTypeCode)
		for _, ts := range []string{e.EventDateTime, e.EventCreatedDateTime} {
			_, err := time.Parse(time.RFC3339, ts)
			require.NoError(t, err)
		}
		require.NotEmpty(t, e.TransportCall.TransportCallID)
		require.Equal(t, "VESSEL", e.TransportCall.ModeOfTransport)
		require.Equal(t, "CNSHA", e.TransportCall.UNLocationCode)
		require.Len(t, e.TransportCall.Vessel.VesselIMONumber, 7)
		require.Len(t, e.DocumentReferences, 1)
		require.Equal(t, "BKG (Booking)", e.DocumentReferences[0].DocumentReferenceType)
		require.Equal(t, "BK-r2-"+strconv.Itoa(i), e.DocumentReferences[0].DocumentReferenceValue)
		require.Len(t, e.References, 1)
		require.Equal(t, "EQ", e.References[0].ReferenceType)
		require.Equal(t, g.container(i), e.References[0].ReferenceValue)
	}

	key := []byte("0123456789abcdef0123456789abcdef")
	sig := dcsaSignature(key, body)
	require.True(t, sources.VerifyDCSASignature(key, body, sig))
	require.False(t, sources.VerifyDCSASignature([]byte("another key of 32 bytes, not it!"), body, sig))

	// shiphook translates every event into the milestone the batch
	// scenario posts, named by its booking and container.
	items, err := sources.TranslateDCSA(body)
	require.NoError(t, err)
	require.Len(t, items, 100)
	for k, it := range items {
		i := 200 + k
		require.NoError(t, it.Err, "event %d", i)
		require.Len(t, it.Events, 1)
		var ev canonicalShape
		require.NoError(t, json.Unmarshal(it.Events[0], &ev))
		require.Equal(t, map[bool]string{true: "shipment.milestone.departed", false: "shipment.milestone.arrived"}[i%2 == 0], ev.Type)
		require.Equal(t, "dcsa:"+g.dcsaEventID(i), ev.ID)
		require.Empty(t, ev.Shipment.ID)
		require.Equal(t, map[string]any{"booking": g.booking(i), "containers": []any{g.container(i)}}, ev.Shipment.References)
		require.Equal(t, "CNSHA", ev.Data["location"].(map[string]any)["code"])
	}
}

// canonicalShape is what the tests read of a canonical event.
type canonicalShape struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Shipment struct {
		ID         string         `json:"id"`
		References map[string]any `json:"references"`
	} `json:"shipment"`
	Data map[string]any `json:"data"`
}

func TestWMSBatch(t *testing.T) {
	g := newSourceGen("r5", 5, targets{run: "r5", partners: []string{"bench-r5-p0"}})
	body := g.wmsBatch(0, 100)
	var ps []map[string]string
	require.NoError(t, json.Unmarshal(body, &ps))
	require.Len(t, ps, 100)
	ids := map[string]bool{}
	for i, p := range ps {
		require.False(t, ids[p["msg_id"]], "msg_id %s given twice", p["msg_id"])
		ids[p["msg_id"]] = true
		require.Equal(t, map[bool]string{true: "DEP", false: "ARR"}[i%2 == 0], p["status"])
		require.Contains(t, wmsCodes["status"], p["status"])
		require.Equal(t, "BK-r5-"+strconv.Itoa(i), p["ref"])
		sent, err := strconv.ParseInt(p["sent_at_ns"], 10, 64)
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), time.Unix(0, sent), time.Minute)
	}
	require.True(t, strings.HasPrefix(ps[99]["msg_id"], "WMS-r5-"))

	// The mapped source's mapping makes of each the milestone the batch
	// scenario posts, named by its booking and container, with the
	// publisher's clock.
	m, err := sources.CompileMapping(wmsProgram, wmsCodes)
	require.NoError(t, err)
	items, err := m.Translate(context.Background(), body)
	require.NoError(t, err)
	require.Len(t, items, 100)
	for i, it := range items {
		require.NoError(t, it.Err, "payload %d", i)
		require.Len(t, it.Events, 1)
		var ev canonicalShape
		require.NoError(t, json.Unmarshal(it.Events[0], &ev))
		require.Equal(t, map[bool]string{true: "shipment.milestone.departed", false: "shipment.milestone.arrived"}[i%2 == 0], ev.Type)
		require.Equal(t, ps[i]["msg_id"], ev.ID)
		require.Equal(t, map[string]any{"booking": g.booking(i), "containers": []any{g.container(i)}}, ev.Shipment.References)
		require.Equal(t, ps[i]["sent_at_ns"], ev.Data["sent_at_ns"])
	}
}

func TestSourceComparison(t *testing.T) {
	cpu := func(shiphook time.Duration) cpuUse { return cpuUse{wall: time.Second, shiphook: shiphook} }
	mk := func(pass, kind, source string, shiphook time.Duration) row {
		return row{pass: pass, scenario: scenario{kind: kind, source: source, batch: 100}, cpu: cpu(shiphook), cpuFor: 1000}
	}
	r := &report{rows: []row{
		mk(passPostgres, scenarioBatchDCSA, formatDCSA, 600*time.Millisecond), // before any batch row: the first after
		mk(passPostgres, scenarioBatch, "", 500*time.Millisecond),
		mk(passPostgres, scenarioBatchMapped, formatMapped, 600*time.Millisecond),
		mk(passPostgres, scenarioBatch, "", 400*time.Millisecond),
		mk(passPostgres, scenarioBatchDCSA, formatDCSA, 500*time.Millisecond),
		mk(passEmbedded, scenarioBatchMapped, formatMapped, 900*time.Millisecond), // no batch row in its pass
	}}
	r.rows[3].scenario.batch = 500
	for i, want := range []float64{1.2, 0, 1.2, 0, 1.25, 0} {
		ratio, _, ok := r.sourceRatio(i)
		require.Equal(t, want != 0, ok, "row %d", i)
		require.InDelta(t, want, ratio, 1e-9, "row %d", i)
	}
	require.Contains(t, r.sourceComparison(4)[0], "-batch-size 100 compares like with like")
	require.NotContains(t, r.sourceComparison(2)[0], "like with like")
	// Rounds together: DCSA 1.1 s over 2,000 events against batch
	// ingest's 0.9 s over 2,000.
	v, met := r.sourceGoal(passPostgres)
	require.Equal(t, "DCSA 1.22× (1.20×, 1.25×), mapped 1.33×", v)
	require.False(t, met)

	r.rows[2].cpu = cpu(500 * time.Millisecond)
	v, met = r.sourceGoal(passPostgres)
	require.Equal(t, "DCSA 1.22× (1.20×, 1.25×), mapped 1.11×", v)
	require.True(t, met)
	v, _ = r.sourceGoal(passEmbedded)
	require.Empty(t, v)
}

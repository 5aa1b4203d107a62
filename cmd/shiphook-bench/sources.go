package main

// The source scenarios publish the events of the batch scenario through a
// source instead: a carrier's DCSA Track & Trace 2.2 notifications, or a
// warehouse system's own JSON that a mapping turns into events. Those
// events name their shipment by its booking and container only, so the
// shipments are registered first, with the parties the batch scenario's
// events carry.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shiphook/shiphook/internal/harness"
	"github.com/shiphook/shiphook/subscriptions"
)

// Formats of the sources the source scenarios create.
const (
	formatDCSA   = "dcsa-tnt-2.2"
	formatMapped = "mapped"
)

// wmsProgram is the mapping of the mapped source: a warehouse system's
// status message becomes a milestone of the shipment its booking and
// container name, with the publisher's clock kept in data.sent_at_ns.
const wmsProgram = `{
  id: .msg_id,
  type: (.status | code("status")),
  occurred_at: .ts,
  shipment: {references: {booking: .ref, containers: [.container]}},
  data: {location: {code: .site, name: .site_name}, vessel: .vessel, voyage: .voyage, sent_at_ns: .sent_at_ns}
}`

// wmsCodes are the code tables of the mapped source.
var wmsCodes = map[string]map[string]string{
	"status": {"DEP": "shipment.milestone.departed", "ARR": "shipment.milestone.arrived"},
}

// sourceGen renders the payloads of a source scenario. Event i is about
// shipment SHP-<run>-<i> (as in the batch scenario), registered with
// booking BK-<run>-<i> and one container of its own; even events depart,
// odd ones arrive.
type sourceGen struct {
	run string
	// owner is the first two letters of the run's container numbers: B
	// and a letter of the run's number.
	owner string
	// uuid is the first 20 hex digits (with their dashes) of the run's
	// DCSA event ids; the index of the event makes the last 12.
	uuid     string
	occurred string
	parties  json.RawMessage
}

// newSourceGen returns the generator of run number n (named run), whose
// events name the parties of tg.
func newSourceGen(run string, n int, tg targets) *sourceGen {
	var b [9]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	h := hex.EncodeToString(b[:])
	return &sourceGen{
		run:      run,
		owner:    "B" + string(rune('A'+n%26)),
		uuid:     h[:8] + "-" + h[8:12] + "-4" + h[12:15] + "-8" + h[15:18] + "-",
		occurred: time.Now().UTC().Format(time.RFC3339),
		parties:  newEventGen(tg).parties,
	}
}

func (g *sourceGen) shipmentID(i int) string { return fmt.Sprintf("SHP-%s-%d", g.run, i) }
func (g *sourceGen) booking(i int) string    { return fmt.Sprintf("BK-%s-%d", g.run, i) }

// container returns the ISO 6346 number of event i's container: the
// owner code (g.owner and a letter for each million events), the category
// U, six digits of i and the check digit.
func (g *sourceGen) container(i int) string {
	s := fmt.Sprintf("%s%cU%06d", g.owner, 'A'+(i/1_000_000)%26, i%1_000_000)
	return s + string(subscriptions.ContainerCheckDigit(s))
}

// shipment returns the body of PUT /v1/shipments/{id} that registers
// event i's shipment: the attributes and parties of the batch scenario's
// events, with the booking and container the source's events name.
func (g *sourceGen) shipment(i int) []byte {
	b, _ := json.Marshal(map[string]any{
		"mode": "ocean", "origin": "CNSHA", "destination": "NLRTM", "carrier": "MSCU",
		"references": map[string]any{"booking": g.booking(i), "containers": []string{g.container(i)}},
		"parties":    g.parties,
	})
	return b
}

// The parts of a DCSA Track & Trace 2.2 TransportEvent the bench sends,
// shaped as the specification's TransportEvent, TransportCall, Location,
// Vessel, DocumentReference and Reference schemas. (The specification
// declares TransportCall.vessel a string, but defines the Vessel object
// that publishers send; this is that object.)
type (
	dcsaTransportEvent struct {
		EventID                string                  `json:"eventID"`
		EventCreatedDateTime   string                  `json:"eventCreatedDateTime"`
		EventType              string                  `json:"eventType"`
		EventClassifierCode    string                  `json:"eventClassifierCode"`
		EventDateTime          string                  `json:"eventDateTime"`
		TransportEventTypeCode string                  `json:"transportEventTypeCode"`
		TransportCall          dcsaTransportCall       `json:"transportCall"`
		DocumentReferences     []dcsaDocumentReference `json:"documentReferences"`
		References             []dcsaReference         `json:"references"`
	}
	dcsaTransportCall struct {
		TransportCallID             string       `json:"transportCallID"`
		CarrierServiceCode          string       `json:"carrierServiceCode"`
		ExportVoyageNumber          string       `json:"exportVoyageNumber"`
		ImportVoyageNumber          string       `json:"importVoyageNumber"`
		TransportCallSequenceNumber string       `json:"transportCallSequenceNumber"`
		UNLocationCode              string       `json:"UNLocationCode"`
		FacilityCode                string       `json:"facilityCode"`
		FacilityCodeListProvider    string       `json:"facilityCodeListProvider"`
		FacilityTypeCode            string       `json:"facilityTypeCode"`
		ModeOfTransport             string       `json:"modeOfTransport"`
		Location                    dcsaLocation `json:"location"`
		Vessel                      dcsaVessel   `json:"vessel"`
	}
	dcsaLocation struct {
		LocationName   string `json:"locationName"`
		UNLocationCode string `json:"UNLocationCode"`
	}
	dcsaVessel struct {
		VesselIMONumber string `json:"vesselIMONumber"`
		VesselName      string `json:"vesselName"`
	}
	dcsaDocumentReference struct {
		DocumentReferenceType  string `json:"documentReferenceType"`
		DocumentReferenceValue string `json:"documentReferenceValue"`
	}
	dcsaReference struct {
		ReferenceType  string `json:"referenceType"`
		ReferenceValue string `json:"referenceValue"`
	}
)

// dcsaEventID returns the eventID (a UUID) of DCSA event i.
func (g *sourceGen) dcsaEventID(i int) string { return fmt.Sprintf("%s%012x", g.uuid, i) }

// dcsaNotification returns the DCSA notification of events lo..hi-1: a
// JSON array of actual departures (even i) and arrivals (odd i) of the
// vessel at its call in Shanghai, each naming its booking and container.
func (g *sourceGen) dcsaNotification(lo, hi int) []byte {
	call := dcsaTransportCall{
		TransportCallID: g.uuid + "ffffffffffff", CarrierServiceCode: "FE1",
		ExportVoyageNumber: "547W", ImportVoyageNumber: "546E", TransportCallSequenceNumber: "1",
		UNLocationCode: "CNSHA", FacilityCode: "SGH", FacilityCodeListProvider: "SMDG", FacilityTypeCode: "POTE",
		ModeOfTransport: "VESSEL",
		Location:        dcsaLocation{LocationName: "Shanghai", UNLocationCode: "CNSHA"},
		Vessel:          dcsaVessel{VesselIMONumber: "9703291", VesselName: "MSC OSCAR"},
	}
	evs := make([]dcsaTransportEvent, 0, hi-lo)
	for i := lo; i < hi; i++ {
		code := "DEPA"
		if i%2 == 1 {
			code = "ARRI"
		}
		evs = append(evs, dcsaTransportEvent{
			EventID: g.dcsaEventID(i), EventCreatedDateTime: g.occurred, EventType: "TRANSPORT",
			EventClassifierCode: "ACT", EventDateTime: g.occurred, TransportEventTypeCode: code,
			TransportCall:      call,
			DocumentReferences: []dcsaDocumentReference{{DocumentReferenceType: "BKG (Booking)", DocumentReferenceValue: g.booking(i)}},
			References:         []dcsaReference{{ReferenceType: "EQ", ReferenceValue: g.container(i)}},
		})
	}
	b, _ := json.Marshal(evs)
	return b
}

// dcsaSignature returns the Notification-Signature of a DCSA
// notification body signed with key: sha256= and the hex HMAC-SHA256 of
// the body.
func dcsaSignature(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// wmsPayload is a status message of the warehouse system the mapped
// source stands for.
type wmsPayload struct {
	MsgID     string `json:"msg_id"`
	Status    string `json:"status"`
	TS        string `json:"ts"`
	Ref       string `json:"ref"`
	Container string `json:"container"`
	Site      string `json:"site"`
	SiteName  string `json:"site_name"`
	Vessel    string `json:"vessel"`
	Voyage    string `json:"voyage"`
	SentAtNS  string `json:"sent_at_ns"`
}

// wmsBatch returns the mapped source's body of events lo..hi-1: a JSON
// array of status messages, DEP for even i and ARR for odd, stamped with
// the publisher's clock.
func (g *sourceGen) wmsBatch(lo, hi int) []byte {
	sent := strconv.FormatInt(time.Now().UnixNano(), 10)
	ps := make([]wmsPayload, 0, hi-lo)
	for i := lo; i < hi; i++ {
		status := "DEP"
		if i%2 == 1 {
			status = "ARR"
		}
		ps = append(ps, wmsPayload{
			MsgID: fmt.Sprintf("WMS-%s-%d", g.run, i), Status: status, TS: g.occurred,
			Ref: g.booking(i), Container: g.container(i), Site: "CNSHA", SiteName: "Shanghai",
			Vessel: "MSC OSCAR", Voyage: "FE547W", SentAtNS: sent,
		})
	}
	b, _ := json.Marshal(ps)
	return b
}

// source is a source created for a run.
type source struct {
	id, format string
	// key signs a DCSA source's notifications: its secret, decoded.
	key []byte
	gen *sourceGen
}

// createSource creates a source of format for the run of g through the
// API.
func createSource(ctx context.Context, a *harness.Client, format string, g *sourceGen) (*source, error) {
	in := map[string]any{"name": "Bench " + format + " " + g.run, "format": format}
	if format == formatMapped {
		in["mapping"] = map[string]any{"program": wmsProgram, "codes": wmsCodes}
	}
	var out struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := a.Call(ctx, http.MethodPost, "/v1/sources", in, &out); err != nil {
		return nil, fmt.Errorf("create a %s source: %w", format, err)
	}
	s := &source{id: out.ID, format: format, gen: g}
	if format == formatDCSA {
		key, err := base64.StdEncoding.DecodeString(out.Secret)
		if err != nil || len(key) == 0 {
			return nil, fmt.Errorf("create a %s source: the answer's secret %q is not base64", format, out.Secret)
		}
		s.key = key
	}
	return s, nil
}

// registerShipments registers the shipments of events 0..n-1 with PUT
// /v1/shipments/{id}, conc at a time, and stops at the first failure.
func registerShipments(ctx context.Context, a *harness.Client, g *sourceGen, n, conc int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				status, body, err := a.Do(ctx, http.MethodPut, "/v1/shipments/"+g.shipmentID(i), g.shipment(i))
				if err == nil && status != http.StatusCreated && status != http.StatusOK {
					err = fmt.Errorf("PUT /v1/shipments/%s: %d %s", g.shipmentID(i), status, bytes.TrimSpace(body))
				}
				if err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// sourceAnswer is the answer of POST /v1/sources/{id}/events: what became
// of each item of the body, in order.
type sourceAnswer struct {
	Items []struct {
		Status string `json:"status"`
		Events []struct {
			ID        string `json:"id"`
			Duplicate bool   `json:"duplicate"`
		} `json:"events"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	} `json:"items"`
}

// post posts the payload of events lo..hi-1 to the source, signed when it
// is a DCSA source, and records in st what became of them: an event
// accepted, a duplicate, or a failure (an item not accepted, or the
// request's). A DCSA source's 204 counts them all accepted.
func (s *source) post(ctx context.Context, a *harness.Client, lo, hi int, st *publishStats) {
	var (
		body   []byte
		header http.Header
	)
	if s.format == formatDCSA {
		body = s.gen.dcsaNotification(lo, hi)
		header = http.Header{"Notification-Signature": {dcsaSignature(s.key, body)}}
	} else {
		body = s.gen.wmsBatch(lo, hi)
	}
	started := time.Now()
	ans, err := a.SendWith(ctx, http.MethodPost, "/v1/sources/"+s.id+"/events", body, header)
	ended := time.Now()
	if err != nil {
		if ctx.Err() == nil {
			st.add(0, 0, hi-lo, err.Error(), started, ended)
		}
		return
	}
	if s.format == formatDCSA && ans.Status == http.StatusNoContent {
		// A DCSA callback answers 204 and no items, as the standard asks;
		// what became of each event shows at the receivers.
		st.add(hi-lo, 0, 0, "", started, ended)
		return
	}
	var out sourceAnswer
	if ans.Status != http.StatusOK || json.Unmarshal(ans.Body, &out) != nil {
		st.add(0, 0, hi-lo, fmt.Sprintf("%d %s", ans.Status, bytes.TrimSpace(ans.Body)), started, ended)
		return
	}
	acc, dup, bad, errText := countItems(out)
	bad += max(0, hi-lo-len(out.Items))
	st.add(acc, dup, bad, errText, started, ended)
}

// countItems counts the events accepted and duplicate of an answer, and
// the items that were not accepted, with the last one's error.
func countItems(out sourceAnswer) (acc, dup, bad int, errText string) {
	for _, it := range out.Items {
		if it.Status != "accepted" || len(it.Events) == 0 {
			bad++
			errText = "item " + it.Status
			if it.Error != nil {
				errText = fmt.Sprintf("item %s: %s %s (field %q)", it.Status, it.Error.Code, it.Error.Message, it.Error.Field)
			}
			continue
		}
		for _, ev := range it.Events {
			if ev.Duplicate {
				dup++
			} else {
				acc++
			}
		}
	}
	return acc, dup, bad, errText
}

// publishSource posts events 0..n-1 to src in bodies of size from conc
// goroutines, until all are sent or limit has passed.
func publishSource(ctx context.Context, a *harness.Client, src *source, n, size, conc int, limit time.Duration) published {
	return inBatches(ctx, n, size, conc, limit, func(ctx context.Context, _, lo, hi int, st *publishStats) {
		src.post(ctx, a, lo, hi, st)
	})
}

// unresolved says how many events shiphook holds unresolved (no
// registered shipment matched their references), counted from the first
// 40 pages of GET /v1/events?status=unresolved.
func (rn *runner) unresolved(ctx context.Context) string {
	n, cursor := 0, ""
	for range 40 {
		q := url.Values{"status": {"unresolved"}, "limit": {"250"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Data       []json.RawMessage `json:"data"`
			NextCursor *string           `json:"next_cursor"`
		}
		if err := rn.p.api.Call(ctx, http.MethodGet, "/v1/events?"+q.Encode(), nil, &page); err != nil {
			return "could not count the unresolved events: " + err.Error()
		}
		n += len(page.Data)
		if page.NextCursor == nil {
			return fmt.Sprintf("%d events unresolved (no registered shipment matched their references)", n)
		}
		cursor = *page.NextCursor
	}
	return fmt.Sprintf("at least %d events unresolved (no registered shipment matched their references)", n)
}

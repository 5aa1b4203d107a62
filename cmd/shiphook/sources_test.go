package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/internal/openapicheck"
)

// TestSourcesEndToEnd runs the real server on PostgreSQL and on SQLite
// with a shiphook-format source and a DCSA source: an event posted
// through a source, with a key bound to it, reaches a matching endpoint
// and keeps its original; a DCSA notification with a forged signature is
// refused and stores nothing, one signed with the source's secret is
// answered 204 and stored with its original.
func TestSourcesEndToEnd(t *testing.T) {
	onBothDatabases(t, checkSources)
}

type sourceItemOut struct {
	ID       string          `json:"id"`
	Status   string          `json:"status"`
	Original json.RawMessage `json:"original"`
	EventIDs []string        `json:"event_ids"`
}

type itemsAnswer struct {
	Items []struct {
		ItemID string `json:"item_id"`
		Status string `json:"status"`
		Events []struct {
			ID        string `json:"id"`
			Duplicate bool   `json:"duplicate"`
		} `json:"events"`
	} `json:"items"`
}

func checkSources(t *testing.T, env map[string]string) {
	t.Helper()
	s := startServer(t, "serve", env)
	createPartners(t, s, "acme", "globex")
	rcv := newReceiver(t)
	createEndpoint(t, s, rcv, adminKey, "acme", "/arrivals", map[string]any{"event_types": []string{"shipment.milestone.arrived"}})

	var tms struct{ ID string }
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/sources", adminKey, map[string]any{"name": "TMS", "format": "shiphook"}, &tms))
	var bound struct {
		Key      string `json:"key"`
		SourceID string `json:"source_id"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/api-keys", adminKey, map[string]any{"role": "ingest", "source_id": tms.ID}, &bound))
	require.Equal(t, tms.ID, bound.SourceID)
	var keys listOut[struct {
		SourceID string `json:"source_id"`
	}]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/api-keys", adminKey, nil, &keys))
	require.Contains(t, keys.Data, struct {
		SourceID string `json:"source_id"`
	}{tms.ID}, "the key list shows the binding")

	arrived := moneyEvent("tms-arr-1", "shipment.milestone.arrived", `{"location":"NLRTM","vessel":"MSC OSCAR"}`)
	var ans itemsAnswer
	require.Equal(t, http.StatusOK, call(t, "POST", s.URL+"/v1/sources/"+tms.ID+"/events", bound.Key, "["+arrived+"]", &ans))
	require.Len(t, ans.Items, 1)
	require.Equal(t, "accepted", ans.Items[0].Status)
	evID := ans.Items[0].Events[0].ID
	require.Eventually(t, func() bool { return len(rcv.byPath("/arrivals")) == 1 }, 20*time.Second, 20*time.Millisecond,
		"the event posted through the source is delivered")
	require.Equal(t, "SHP-tms-arr-1", rcv.byPath("/arrivals")[0].Data["shipment"].(map[string]any)["id"])

	var ev struct {
		ID         string        `json:"id"`
		SourceItem sourceItemOut `json:"source_item"`
	}
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/events/"+evID, adminKey, nil, &ev))
	require.Equal(t, ans.Items[0].ItemID, ev.SourceItem.ID)
	require.JSONEq(t, arrived, string(ev.SourceItem.Original), "the original is kept as posted")

	// Who may post where.
	require.Equal(t, http.StatusForbidden, call(t, "POST", s.URL+"/v1/events", bound.Key, arrived, nil), "a bound key posts to its source only")
	require.Equal(t, http.StatusForbidden, call(t, "POST", s.URL+"/v1/sources/"+tms.ID+"/events", partnerKey(t, s, "acme"), arrived, nil))
	require.Equal(t, http.StatusNotFound, call(t, "POST", s.URL+"/v1/sources/src_none/events", adminKey, arrived, nil))
	require.Equal(t, http.StatusBadRequest, call(t, "POST", s.URL+"/v1/sources/"+tms.ID+"/events", adminKey, "not json", nil))
	huge := `["` + strings.Repeat("x", dispatcher.MaxBatchBody) + `"]`
	require.Equal(t, http.StatusRequestEntityTooLarge, call(t, "POST", s.URL+"/v1/sources/"+tms.ID+"/events", adminKey, huge, nil))
	var tmsItems listOut[sourceItemOut]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/sources/"+tms.ID+"/items", adminKey, nil, &tmsItems))
	require.Len(t, tmsItems.Data, 1, "a body refused as a whole stores no item")
	require.Equal(t, http.StatusUnprocessableEntity, call(t, "POST", s.URL+"/v1/sources", adminKey, map[string]any{"format": "edi"}, nil))
	require.Equal(t, http.StatusBadRequest, call(t, "POST", s.URL+"/v1/sources", adminKey,
		map[string]any{"format": "mapped", "mapping": map[string]any{"program": "{id: .msg_id"}}, nil))

	checkDCSASource(t, s)
}

// checkDCSASource posts a DCSA notification to a DCSA source: forged or
// unsigned it is refused and nothing is stored; signed with the source's
// secret, its event is stored as an item with its original.
func checkDCSASource(t *testing.T, s *server) {
	t.Helper()
	var src struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", s.URL+"/v1/sources", adminKey, map[string]any{"name": "Carrier", "format": "dcsa-tnt-2.2"}, &src))
	url := s.URL + "/v1/sources/" + src.ID + "/events"

	head, err := http.NewRequest("HEAD", url, nil)
	require.NoError(t, err)
	resp, err := openapicheck.Client(t).Do(head)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "the callback check needs no key")

	var before listOut[struct{ ID string }]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/events", adminKey, nil, &before))
	forged := dcsaSignature(base64.StdEncoding.EncodeToString([]byte("a secret that is not the source's")), []byte(dcsaNotification))
	for _, sig := range []string{"", forged} {
		require.Equal(t, http.StatusUnauthorized, postSigned(t, url, sig, dcsaNotification))
	}
	var items listOut[sourceItemOut]
	require.Equal(t, http.StatusOK, call(t, "GET", url[:len(url)-len("/events")]+"/items", adminKey, nil, &items))
	require.Empty(t, items.Data, "a refused notification stores no item")
	var after listOut[struct{ ID string }]
	require.Equal(t, http.StatusOK, call(t, "GET", s.URL+"/v1/events", adminKey, nil, &after))
	require.Equal(t, before.Data, after.Data, "a refused notification stores no event")

	require.Equal(t, http.StatusNoContent, postSigned(t, url, dcsaSignature(src.Secret, []byte(dcsaNotification)), dcsaNotification),
		"an accepted notification is answered as the DCSA callback expects")
	require.Equal(t, http.StatusOK, call(t, "GET", url[:len(url)-len("/events")]+"/items", adminKey, nil, &items))
	require.Len(t, items.Data, 1)
	require.Contains(t, string(items.Data[0].Original), "5e51e72c-d872-11ea-811c-0f8f10a32ea1")
	require.Equal(t, "unresolved", items.Data[0].Status, "its booking is not registered")
}

// dcsaNotification is a DCSA 2.2 notification of one TransportEvent: the
// vessel arrived (ARRI, ACT) at Rotterdam for booking ABC709951.
const dcsaNotification = `[{"eventID":"5e51e72c-d872-11ea-811c-0f8f10a32ea1","eventType":"TRANSPORT",` +
	`"eventClassifierCode":"ACT","eventDateTime":"2026-11-26T14:05:00Z","eventCreatedDateTime":"2026-11-26T14:06:00Z",` +
	`"transportEventTypeCode":"ARRI",` +
	`"documentReferences":[{"documentReferenceType":"BKG","documentReferenceValue":"ABC709951"}],` +
	`"transportCall":{"transportCallID":"123e4567-e89b-12d3-a456-426614174000","carrierServiceCode":"FE1",` +
	`"exportVoyageNumber":"2103S","importVoyageNumber":"2103N","transportCallSequenceNumber":2,` +
	`"UNLocationCode":"NLRTM","modeOfTransport":"VESSEL","location":{"UNLocationCode":"NLRTM"},` +
	`"vessel":{"vesselIMONumber":"9321483","vesselName":"Emma Maersk","vesselFlag":"DK"}}}]`

// dcsaSignature is the Notification-Signature of body under the base64
// secret, computed here with the standard library alone.
func dcsaSignature(secret string, body []byte) string {
	key, _ := base64.StdEncoding.DecodeString(secret)
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// postSigned posts body to url with the Notification-Signature sig (none
// if empty) and no API key, and returns the status.
func postSigned(t *testing.T, url, sig, body string) int {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("Notification-Signature", sig)
	}
	resp, err := openapicheck.Client(t).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

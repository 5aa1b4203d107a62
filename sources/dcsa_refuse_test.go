package sources

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

// TestDCSARefused: an event that cannot be translated gets an Item.Err
// naming its DCSA field and value, and no event.
func TestDCSARefused(t *testing.T) {
	tests := []struct {
		name    string
		raw     []byte
		field   string
		message string
	}{
		{"no eventID", edit(t, transportEvent, "eventID", deleted), "eventID", "idempotency key"},
		{"operations event", edit(t, transportEvent, "eventType", "OPERATIONS"), "eventType", `"OPERATIONS" is not translated; use one of TRANSPORT, EQUIPMENT, SHIPMENT`},
		{"no eventType", edit(t, transportEvent, "eventType", deleted), "eventType", "is required"},
		{"requested classifier", edit(t, transportEvent, "eventClassifierCode", "REQ"), "eventClassifierCode", `"REQ" is not translated; use one of ACT, PLN, EST`},
		{"unknown transport code", edit(t, transportEvent, "transportEventTypeCode", "OMIT"), "transportEventTypeCode", `"OMIT"`},
		{"no transport call", edit(t, transportEvent, "transportCall", deleted), "transportCall", "is required"},
		{"call not a UN/LOCODE", edit(t, transportEvent, "transportCall.UNLocationCode", "Shanghai"), "transportCall.UNLocationCode", `"Shanghai" is not a UN/LOCODE`},
		{"call's location not a UN/LOCODE", edit(t, transportEvent, "transportCall.UNLocationCode", deleted, "transportCall.location.UNLocationCode", "cnsha"),
			"transportCall.location.UNLocationCode", `"cnsha" is not a UN/LOCODE`},
		{"call nowhere", edit(t, transportEvent, "transportCall.UNLocationCode", deleted, "transportCall.location", deleted), "transportCall.UNLocationCode", "is required"},
		{"IMO number of six digits", edit(t, transportEvent, "transportCall.vessel.vesselIMONumber", "981100"), "transportCall.vessel.vesselIMONumber", `"981100" is not an IMO number`},
		{"no eventDateTime", edit(t, transportEvent, "eventDateTime", deleted), "eventDateTime", "is required"},
		{"eventDateTime without offset", edit(t, transportEvent, "eventDateTime", "2026-11-20T08:05:00"), "eventDateTime", `"2026-11-20T08:05:00" is not a date-time with its offset`},
		{"eventDateTime a number", edit(t, transportEvent, "eventDateTime", 1763596800), "eventDateTime", "must be a string, not a JSON number"},
		{"eventDateTime before 1970", edit(t, transportEvent, "eventDateTime", "1969-12-31T23:00:00Z"), "eventDateTime", "year 1969"},
		{"estimate without its creation time", edit(t, transportEvent, "eventClassifierCode", "EST", "eventCreatedDateTime", deleted), "eventCreatedDateTime", "is required"},
		{"resealed container", edit(t, equipmentEvent, "equipmentEventTypeCode", "RSEA"), "equipmentEventTypeCode", `"RSEA" (resealed) has no canonical event type`},
		{"removed container", edit(t, equipmentEvent, "equipmentEventTypeCode", "RMVD"), "equipmentEventTypeCode", `"RMVD" (removed) has no canonical event type`},
		{"unknown equipment code", edit(t, equipmentEvent, "equipmentEventTypeCode", "LOST"), "equipmentEventTypeCode", `"LOST" is not translated`},
		{"estimated container move", edit(t, equipmentEvent, "eventClassifierCode", "EST"), "eventClassifierCode", "only actual (ACT) container moves"},
		{"no container", edit(t, equipmentEvent, "equipmentReference", deleted), "equipmentReference", "is required"},
		{"neither empty nor laden", edit(t, equipmentEvent, "emptyIndicatorCode", "FULL"), "emptyIndicatorCode", `"FULL" is not translated; use one of EMPTY, LADEN`},
		{"seal without number", edit(t, equipmentEvent, "seals", []any{map[string]any{"sealType": "WIR"}}), "seals[0].sealNumber", "is required"},
		{"seal of unknown source", edit(t, equipmentEvent, "seals", []any{map[string]any{"sealNumber": "1", "sealSource": "POL"}}), "seals[0].sealSource", `"POL"`},
		{"seal of unknown type", edit(t, equipmentEvent, "seals", []any{map[string]any{"sealNumber": "1", "sealType": "TAPE"}}), "seals[0].sealType", `"TAPE"`},
		{"carried by air", edit(t, equipmentEvent, "transportCall.modeOfTransport", "AIR"), "transportCall.modeOfTransport", `"AIR" is not translated; use one of VESSEL, RAIL, TRUCK, BARGE`},
		{"depot not a UN/LOCODE", edit(t, equipmentEvent, "eventLocation", map[string]any{"UNLocationCode": "SHA"}), "eventLocation.UNLocationCode", `"SHA"`},
		{"unknown document", edit(t, shipmentEvent, "documentTypeCode", "INV"), "documentTypeCode", `"INV" is not translated; use one of ARN, BKG, CAS, CBR`},
		{"unknown document status", edit(t, shipmentEvent, "shipmentEventTypeCode", "DONE"), "shipmentEventTypeCode", `"DONE" is not translated`},
		{"estimated document status", edit(t, shipmentEvent, "eventClassifierCode", "EST"), "eventClassifierCode", "only actual (ACT) shipment events"},
		{"no documentID", edit(t, shipmentEvent, "documentID", deleted), "documentID", "is required: the reference of the bill of lading"},
		{"no reference at all", edit(t, transportEvent, "documentReferences", deleted, "references", deleted), "documentReferences", "no shipment can be found"},
		{"unknown document reference", edit(t, transportEvent, "documentReferences", []any{map[string]any{"documentReferenceType": "INV", "documentReferenceValue": "1"}}),
			"documentReferences[0].documentReferenceType", `"INV" is not a document reference type`},
		{"empty document reference", edit(t, transportEvent, "documentReferences", []any{map[string]any{"documentReferenceType": "BKG"}}),
			"documentReferences[0].documentReferenceValue", "is required"},
		{"unknown reference type", edit(t, transportEvent, "references", []any{map[string]any{"referenceType": "PO", "referenceValue": "1"}, map[string]any{"referenceType": "ZZ", "referenceValue": "2"}}),
			"references[1].referenceType", `"ZZ" is not a DCSA reference type`},
		{"empty reference", edit(t, transportEvent, "references", []any{map[string]any{"referenceType": "PO", "referenceValue": " "}}), "references[0].referenceValue", "is required"},
		{"references not a list", edit(t, transportEvent, "references", "PO-1"), "references", "must be an array, not a JSON string"},
		{"NUL in a vessel name", edit(t, transportEvent, "transportCall.vessel.vesselName", "EVER\x00GIVEN"), "transportCall.vessel.vesselName", "without the NUL character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := TranslateDCSA(append(append([]byte("["), tt.raw...), ']'))
			require.NoError(t, err)
			require.Len(t, items, 1)
			require.Empty(t, items[0].Events)
			require.Equal(t, string(tt.raw), string(items[0].Original))
			var fe *subscriptions.FieldError
			require.ErrorAs(t, items[0].Err, &fe)
			require.Equal(t, tt.field, fe.Field, fe.Message)
			require.Contains(t, fe.Message, tt.message)
		})
	}
}

// TestDCSANotification: each event of a notification is an Item, in
// order, kept exactly as sent; one that fails fails alone.
func TestDCSANotification(t *testing.T) {
	bad := edit(t, equipmentEvent, "equipmentEventTypeCode", "RMVD")
	body := "[\n  " + transportEvent + ",\n  " + string(bad) + ",\n  42,\n  " + shipmentEvent + "\n]"
	items, err := TranslateDCSA([]byte(body))
	require.NoError(t, err)
	require.Len(t, items, 4)

	require.Equal(t, transportEvent, string(items[0].Original), "byte for byte")
	require.NoError(t, items[0].Err)
	require.Len(t, items[0].Events, 1)

	require.Equal(t, string(bad), string(items[1].Original))
	require.Error(t, items[1].Err)
	require.Empty(t, items[1].Events)

	require.Equal(t, "42", string(items[2].Original))
	var se *subscriptions.Error
	require.ErrorAs(t, items[2].Err, &se)
	require.Equal(t, "not_an_event", se.Code)
	require.Contains(t, se.Message, "not a number")

	require.Equal(t, shipmentEvent, string(items[3].Original))
	require.Len(t, items[3].Events, 1)

	// One event object alone is a notification of one.
	items, err = TranslateDCSA([]byte(" " + shipmentEvent + "\n"))
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, shipmentEvent, string(items[0].Original))
	require.Len(t, items[0].Events, 1)
}

func TestDCSANotificationUnreadable(t *testing.T) {
	many := "[" + strings.Repeat(shipmentEvent+",", MaxDCSAEvents) + shipmentEvent + "]"
	tests := []struct {
		name, body string
		kind       subscriptions.Kind
		code       string
	}{
		{"empty", "  ", subscriptions.Malformed, "invalid_json"},
		{"not JSON", "[{", subscriptions.Malformed, "invalid_json"},
		{"broken object", `{"eventID": `, subscriptions.Malformed, "invalid_json"},
		{"a string", `"events"`, subscriptions.Malformed, "invalid_json"},
		{"no events", "[ ]", subscriptions.Malformed, "no_events"},
		{"too many events", many, subscriptions.TooLarge, "too_many_events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := TranslateDCSA([]byte(tt.body))
			require.Nil(t, items)
			var se *subscriptions.Error
			require.ErrorAs(t, err, &se)
			require.Equal(t, tt.kind, se.Kind)
			require.Equal(t, tt.code, se.Code)
		})
	}
	items, err := TranslateDCSA([]byte("[" + strings.Repeat(shipmentEvent+",", MaxDCSAEvents-1) + shipmentEvent + "]"))
	require.NoError(t, err)
	require.Len(t, items, MaxDCSAEvents)
}

func TestVerifyDCSASignature(t *testing.T) {
	secret := []byte("c2hhcmVkIHdpdGggdGhlIGNhcnJpZXIgb25seQ")
	body := []byte("[" + transportEvent + "]")
	sign := func(secret, body []byte) string {
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		return hex.EncodeToString(mac.Sum(nil))
	}
	good := "sha256=" + sign(secret, body)
	tampered := bytes.Replace(body, []byte("EVER GIVEN"), []byte("EVER GIVEM"), 1)

	tests := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   bool
	}{
		{"right secret", secret, body, good, true},
		{"upper-case hex and type, spaces around", secret, body, "  SHA256=" + strings.ToUpper(sign(secret, body)) + " ", true},
		{"wrong secret", []byte("another secret"), body, good, false},
		{"tampered body", secret, tampered, good, false},
		{"missing header", secret, body, "", false},
		{"no signature type", secret, body, sign(secret, body), false},
		{"other signature type", secret, body, "sha512=" + sign(secret, body), false},
		{"bad hex", secret, body, "sha256=" + strings.Repeat("zz", sha256.Size), false},
		{"short signature", secret, body, good[:len(good)-2], false},
		{"empty secret", nil, body, "sha256=" + sign(nil, body), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, VerifyDCSASignature(tt.secret, tt.body, tt.header))
		})
	}
}

func FuzzTranslateDCSA(f *testing.F) {
	f.Add([]byte("[" + transportEvent + "," + equipmentEvent + "," + shipmentEvent + "]"))
	f.Add([]byte(equipmentEvent))
	f.Add([]byte(`[{"eventID": "1", "eventType": "SHIPMENT", "eventClassifierCode": "ACT", "eventDateTime": "2026-01-01T00:00:00Z",
		"shipmentEventTypeCode": "CONF", "documentTypeCode": "BKG", "documentID": "B"}]`))
	f.Add([]byte(`[1, "x", null, [], {}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := TranslateDCSA(body)
		if err != nil {
			require.Nil(t, items)
			return
		}
		require.NotEmpty(t, items)
		for _, it := range items {
			require.NotEmpty(t, it.Original)
			if it.Err != nil {
				require.Empty(t, it.Events)
				continue
			}
			require.Len(t, it.Events, 1)
			var ev event
			require.NoError(t, json.Unmarshal(it.Events[0], &ev))
			require.True(t, strings.HasPrefix(ev.ID, DCSAIDPrefix))
			_, err := subscriptions.NormalizeData(ev.Type, ev.Data)
			require.NoError(t, err, "%s: %s", ev.Type, ev.Data)
			require.NoError(t, subscriptions.CheckJSONText(it.Events[0]))
		}
	})
}

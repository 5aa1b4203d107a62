package subscriptions_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

func TestCheckContainer(t *testing.T) {
	// Real container numbers, with the check digits their owners print.
	for _, ok := range []string{"APZU4812090", "CSQU3054383", "MSKU9070323"} {
		require.NoError(t, subscriptions.CheckContainer("c", ok), ok)
	}
	for _, tc := range []struct{ in, msg string }{
		{"APZU4812091", "APZU4812091 has the check digit 1; ISO 6346 gives 0 for APZU481209"},
		{"CSQU3054384", "ISO 6346 gives 3"},
		{"APZX4812090", "is not an ISO 6346 container number"},
		{"APZU481209", "is not an ISO 6346 container number"},
		{"AP1U4812090", "is not an ISO 6346 container number"},
		{"APZU48120A0", "is not an ISO 6346 container number"},
	} {
		err := subscriptions.CheckContainer("shipment.references.containers[0]", tc.in)
		var fe *subscriptions.FieldError
		require.ErrorAs(t, err, &fe, tc.in)
		require.Equal(t, "shipment.references.containers[0]", fe.Field)
		require.Contains(t, fe.Message, tc.msg)
	}
}

func TestParseReferences(t *testing.T) {
	r, err := subscriptions.ParseReferences("shipment.references", json.RawMessage(
		`{"booking":"BK1","bill_of_lading":"BL1","containers":["apzu4812090","CSQU3054383"],"purchase_orders":["PO-7"],"customer_references":["C1"]}`))
	require.NoError(t, err)
	require.Equal(t, subscriptions.References{Booking: "BK1", BillOfLading: "BL1", Containers: []string{"APZU4812090", "CSQU3054383"},
		PurchaseOrders: []string{"PO-7"}, CustomerReferences: []string{"C1"}}, r)
	require.Equal(t, []subscriptions.Reference{{"booking", "BK1"}, {"bill_of_lading", "BL1"}, {"containers", "APZU4812090"},
		{"containers", "CSQU3054383"}, {"purchase_orders", "PO-7"}, {"customer_references", "C1"}}, r.List())
	require.Equal(t, r, subscriptions.ReferencesOf(r.List()))

	for _, tc := range []struct{ raw, field, msg string }{
		{`{"po":"1"}`, "shipment.references.po", "use booking, bill_of_lading, containers, purchase_orders, customer_references"},
		{`{"booking":["1"]}`, "shipment.references.booking", "must be a string"},
		{`{"containers":"APZU4812090"}`, "shipment.references.containers", "must be an array of strings"},
		{`{"containers":["APZU4812091"]}`, "shipment.references.containers[0]", "ISO 6346 gives 0"},
		{`{"purchase_orders":["ok",""]}`, "shipment.references.purchase_orders[1]", "must not be empty"},
		{`{"booking":"` + strings.Repeat("x", 101) + `"}`, "shipment.references.booking", ""},
		{`[]`, "shipment.references", "must be an object"},
	} {
		_, err := subscriptions.ParseReferences("shipment.references", json.RawMessage(tc.raw))
		var fe *subscriptions.FieldError
		require.ErrorAs(t, err, &fe, tc.raw)
		require.Equal(t, tc.field, fe.Field, tc.raw)
		require.Contains(t, fe.Message, tc.msg)
	}
	many := `{"purchase_orders":[`
	for i := range 51 {
		if i > 0 {
			many += ","
		}
		many += `"PO` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `"`
	}
	_, err = subscriptions.ParseReferences("references", json.RawMessage(many+`]}`))
	require.ErrorContains(t, err, "at most 50 references in all, got 51")
}

func TestReferencesAdd(t *testing.T) {
	a := subscriptions.References{Booking: "B1", Containers: []string{"APZU4812090"}}
	b := subscriptions.References{BillOfLading: "L1", Containers: []string{"APZU4812090", "CSQU3054383"}}
	require.Equal(t, subscriptions.References{Booking: "B1", BillOfLading: "L1", Containers: []string{"APZU4812090", "CSQU3054383"}}, a.Add(b))
	require.True(t, subscriptions.References{}.IsZero())
	require.False(t, a.IsZero())
}

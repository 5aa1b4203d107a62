package subscriptions

import (
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

func ids(ts []Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.EndpointID)
	}
	sort.Strings(out)
	return out
}

func TestMatch(t *testing.T) {
	x := NewIndex()
	x.Set(Partner{ID: "acme", Access: AccessParty}, []Endpoint{
		{ID: "ep_all", EventTypes: nil},
		{ID: "ep_milestones", EventTypes: []string{"shipment.milestone.*"}},
		{ID: "ep_delivered", EventTypes: []string{"shipment.milestone.delivered", "shipment.milestone.*"}},
		{ID: "ep_invoice", EventTypes: []string{"shipment.invoice.issued"}},
		{ID: "ep_ocean", EventTypes: []string{"*"}, Filter: Filter{"shipment.mode": {"ocean"}}},
		{ID: "ep_consignee", Filter: Filter{"role": {"consignee"}}},
		{ID: "ep_off", Disabled: true},
	})
	x.Set(Partner{ID: "erp", Access: AccessAll}, []Endpoint{{ID: "ep_erp", EventTypes: []string{"shipment.invoice.*"}}})
	x.Set(Partner{ID: "other", Access: AccessParty}, []Endpoint{{ID: "ep_other"}})

	tests := []struct {
		name string
		s    Subject
		want []string
	}{
		{"not a party: nothing", Subject{Type: "shipment.created", Parties: []Party{{PartnerID: "nobody", Role: "shipper"}}}, nil},
		{"wildcard and exact once each", Subject{Type: "shipment.milestone.delivered", Mode: "air", Parties: []Party{{PartnerID: "acme", Role: "shipper"}}},
			[]string{"ep_all", "ep_delivered", "ep_milestones"}},
		{"filter on mode (case-insensitive)", Subject{Type: "shipment.created", Mode: "OCEAN", Parties: []Party{{PartnerID: "acme", Role: "shipper"}}},
			[]string{"ep_all", "ep_ocean"}},
		{"filter on role", Subject{Type: "shipment.created", Parties: []Party{{PartnerID: "acme", Role: "consignee"}}},
			[]string{"ep_all", "ep_consignee"}},
		{"access all sees every shipment", Subject{Type: "shipment.invoice.issued", Parties: []Party{{PartnerID: "acme", Role: "shipper"}}},
			[]string{"ep_all", "ep_erp", "ep_invoice"}},
		{"access all without parties", Subject{Type: "shipment.invoice.issued"}, []string{"ep_erp"}},
		{"prefix is not a substring", Subject{Type: "shipment.milestones_x", Parties: []Party{{PartnerID: "acme", Role: "shipper"}}}, []string{"ep_all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, ids(x.Match(tt.s)))
		})
	}

	roles := map[string]string{}
	for _, tg := range x.Match(Subject{Type: "shipment.invoice.issued", Parties: []Party{{PartnerID: "acme", Role: "consignee"}}}) {
		roles[tg.EndpointID] = tg.PartnerID + "/" + tg.Role
	}
	require.Equal(t, "acme/consignee", roles["ep_invoice"])
	require.Equal(t, "erp/", roles["ep_erp"], "a partner with access all that is no party has no role")

	x.Remove("acme")
	require.Empty(t, x.Match(Subject{Type: "shipment.created", Parties: []Party{{PartnerID: "acme", Role: "shipper"}}}))
	x.Set(Partner{ID: "erp", Access: AccessParty}, []Endpoint{{ID: "ep_erp"}})
	require.Empty(t, x.Match(Subject{Type: "shipment.invoice.issued"}), "a partner moved back to party access no longer sees every shipment")
}

// bigIndex holds endpoints of partners, with types spread over the catalog.
func bigIndex(partners, perPartner int) *Index {
	types := []string{"shipment.milestone.*", "shipment.created", "shipment.invoice.issued", "shipment.milestone.delivered", "*"}
	x := NewIndex()
	for p := 0; p < partners; p++ {
		eps := make([]Endpoint, perPartner)
		for e := range eps {
			eps[e] = Endpoint{ID: fmt.Sprintf("ep_%d_%d", p, e), EventTypes: []string{types[(p+e)%len(types)]}}
		}
		x.Set(Partner{ID: fmt.Sprintf("p%d", p), Access: AccessParty}, eps)
	}
	return x
}

// TestMatchCostIndependentOfOtherEndpoints checks the property the index
// exists for: adding endpoints of partners that are not party to an event
// does not change what is examined for it.
func TestMatchCostIndependentOfOtherEndpoints(t *testing.T) {
	s := Subject{Type: "shipment.milestone.delivered", Parties: []Party{{PartnerID: "p1", Role: "consignee"}, {PartnerID: "p2", Role: "shipper"}}}
	small, large := bigIndex(10, 10), bigIndex(10000, 10)
	require.Equal(t, ids(small.Match(s)), ids(large.Match(s)))
	allocsSmall := testing.AllocsPerRun(100, func() { small.Match(s) })
	allocsLarge := testing.AllocsPerRun(100, func() { large.Match(s) })
	require.Equal(t, allocsSmall, allocsLarge)
}

func BenchmarkMatch100kEndpoints(b *testing.B) {
	x := bigIndex(10000, 10)
	s := Subject{Type: "shipment.milestone.delivered", Mode: "ocean", Parties: []Party{{PartnerID: "p17", Role: "consignee"}, {PartnerID: "p4242", Role: "shipper"}, {PartnerID: "p9000", Role: "carrier"}}}
	b.ReportAllocs()
	for b.Loop() {
		x.Match(s)
	}
}

func TestFilterValidate(t *testing.T) {
	require.NoError(t, Filter{"shipment.mode": {"ocean", "air"}, "role": {"consignee"}}.Validate())
	var fe *FieldError
	require.ErrorAs(t, Filter{"shipment.colour": {"red"}}.Validate(), &fe)
	require.Equal(t, "filter.shipment.colour", fe.Field)
	require.ErrorAs(t, Filter{"role": {}}.Validate(), &fe)
	require.Equal(t, "filter.role", fe.Field)
}

func TestFilterJSON(t *testing.T) {
	var f Filter
	require.NoError(t, f.UnmarshalJSON([]byte(`{"shipment.mode":"ocean","role":["consignee","notify"]}`)))
	require.Equal(t, Filter{"shipment.mode": {"ocean"}, "role": {"consignee", "notify"}}, f)
	require.Error(t, f.UnmarshalJSON([]byte(`{"shipment.mode":3}`)))
	b, err := Filter(nil).MarshalJSON()
	require.NoError(t, err)
	require.Equal(t, "{}", string(b))
}

package subscriptions

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVocabularies(t *testing.T) {
	for _, m := range Modes {
		require.NoError(t, CheckMode("shipment.mode", m))
	}
	for _, r := range Roles {
		require.NoError(t, CheckRole("parties[0].role", r))
	}
	err := CheckMode("shipment.mode", "boat")
	require.EqualError(t, err, `shipment.mode: "boat" is not a transport mode; use one of `+strings.Join(Modes, ", "))
	require.Error(t, CheckMode("shipment.mode", "OCEAN"), "modes are lower case")
	err = CheckRole("parties[1].role", "boss")
	require.EqualError(t, err, `parties[1].role: "boss" is not a party role; use one of `+strings.Join(Roles, ", "))
	require.Contains(t, err.Error(), "shipper, consignee, notify_party, forwarder, carrier, customs_broker, agent, buyer, seller")

	for _, code := range []string{"NLRTM", "CNSHA", "US2AB", "DE9ZZ"} {
		require.True(t, IsLocode(code), code)
		require.NoError(t, CheckLocode("shipment.origin", code))
	}
	for _, code := range []string{"nlrtm", "NLRT1", "NLRT0", "NL RTM", "NLRTMX", "NLRT", "1LRTM", "", "NLRTÄ"} {
		require.False(t, IsLocode(code), code)
		require.ErrorContains(t, CheckLocode("shipment.origin", code), "is not a UN/LOCODE")
	}
	for _, code := range []string{"MAEU", "MSCU", "CMA", "LH", "5X", "U2", "AA"} {
		require.True(t, IsCarrier(code), code)
		require.NoError(t, CheckCarrier("shipment.carrier", code))
	}
	for _, code := range []string{"maeu", "M", "MAERSK", "MA1U", "5XX", "L-", "", "Maersk Line"} {
		require.False(t, IsCarrier(code), code)
		require.ErrorContains(t, CheckCarrier("shipment.carrier", code), "is not a carrier code: the SCAC")
	}
}

func TestFilterVocabularies(t *testing.T) {
	for _, ok := range []Filter{
		{"shipment.mode": {"ocean", "AIR"}},
		{"role": {"Consignee", "notify_party"}},
		{"shipment.origin": {"cnsha"}, "shipment.destination": {"NLRTM"}},
		{"shipment.carrier": {"maeu", "LH"}},
	} {
		require.NoError(t, ok.Validate(), "%v", ok)
	}
	for _, tc := range []struct {
		filter  Filter
		field   string
		message string
	}{
		{Filter{"shipment.mode": {"ocean", "boat"}}, "filter.shipment.mode", `"boat" is not a transport mode; use one of ocean, air`},
		{Filter{"role": {"boss"}}, "filter.role", `"boss" is not a party role; use one of shipper`},
		{Filter{"shipment.origin": {"Shanghai"}}, "filter.shipment.origin", "is not a UN/LOCODE"},
		{Filter{"shipment.destination": {"NL"}}, "filter.shipment.destination", "is not a UN/LOCODE"},
		{Filter{"shipment.carrier": {"Maersk"}}, "filter.shipment.carrier", "is not a carrier code"},
	} {
		var fe *FieldError
		require.ErrorAs(t, tc.filter.Validate(), &fe, "%v", tc.filter)
		require.Equal(t, tc.field, fe.Field)
		require.Contains(t, fe.Message, tc.message)
	}
}

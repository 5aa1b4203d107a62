package subscriptions_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/subscriptions"
)

func TestFormatDefaultsToShiphook(t *testing.T) {
	e, err := newEndpoint(t, subscriptions.EndpointInput{})
	require.NoError(t, err)
	require.Empty(t, e.Format)
	raw, err := json.Marshal(e)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"format":"shiphook"`)

	shiphook := subscriptions.FormatShiphook
	in := subscriptions.EndpointInput{}
	in.Format = &shiphook
	_, err = in.Update(context.Background(), nil, &e, time.Now())
	require.NoError(t, err)
	require.Empty(t, e.Format, "shiphook is stored as the default")
}

func TestFormatRefusesUnknownValue(t *testing.T) {
	bad := "dcsa-tnt-3.0"
	in := subscriptions.EndpointInput{EventTypes: &[]string{"shipment.milestone.arrived"}}
	in.Format = &bad
	_, err := newEndpoint(t, in)
	requireField(t, err, "format", `"dcsa-tnt-3.0" is not a format; use one of shiphook, dcsa-tnt-2.2`, "")
}

func TestDCSAEndpointTakesOnlyTypesWithADCSAForm(t *testing.T) {
	dcsa := subscriptions.FormatDCSA
	for _, tc := range []struct {
		name     string
		types    []string
		field    string
		naming   []string
		accepted bool
	}{
		{name: "exact types with a form", types: []string{"shipment.milestone.departed", "shipment.updated", "shipment.document.issued"}, accepted: true},
		{name: "a family that has a form throughout", types: []string{"shipment.equipment.*", "shipment.document.*"}, accepted: false,
			field: "event_types", naming: []string{"shipment.document.added"}},
		{name: "equipment moves", types: []string{"shipment.equipment.*"}, accepted: true},
		{name: "an exact type without a form", types: []string{"shipment.milestone.departed", "shipment.milestone.delivered"},
			field: "event_types", naming: []string{"shipment.milestone.delivered"}},
		{name: "a wildcard that covers types without one", types: []string{"shipment.milestone.*"},
			field: "event_types", naming: []string{"shipment.milestone.customs_hold", "shipment.milestone.delivered"}},
		{name: "every type", types: nil, field: "format", naming: []string{"shipment.created", "shipment.milestone.delivered"}},
		{name: "shiphook's own events", types: []string{"shiphook.*"}, field: "event_types", naming: []string{"shiphook.message.failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := subscriptions.EndpointInput{}
			if tc.types != nil {
				in.EventTypes = &tc.types
			}
			in.Format = &dcsa
			e, err := newEndpoint(t, in)
			if tc.accepted {
				require.NoError(t, err)
				require.Equal(t, subscriptions.FormatDCSA, e.Format)
				return
			}
			var fe *subscriptions.FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tc.field, fe.Field)
			for _, typ := range tc.naming {
				require.Contains(t, fe.Message, typ)
			}
			require.Contains(t, fe.Message, "from: shipment.document.approved", "the message lists the accepted types")
			if tc.types == nil {
				require.NotContains(t, fe.Message, "shiphook.", "every type leaves out shiphook's own, which go only to endpoints naming them")
			}
		})
	}
}

func TestChangingFormatRechecksTypes(t *testing.T) {
	e, err := newEndpoint(t, subscriptions.EndpointInput{EventTypes: &[]string{"shipment.milestone.*"}})
	require.NoError(t, err)
	dcsa := subscriptions.FormatDCSA
	in := subscriptions.EndpointInput{}
	in.Format = &dcsa
	_, err = in.Update(context.Background(), nil, &e, time.Now())
	requireField(t, err, "event_types", "shipment.milestone.delivered", "")

	in.EventTypes = &[]string{"shipment.milestone.arrived"}
	_, err = in.Update(context.Background(), nil, &e, time.Now())
	require.NoError(t, err)
	require.Equal(t, subscriptions.FormatDCSA, e.Format)

	widen := subscriptions.EndpointInput{EventTypes: &[]string{"shipment.*"}}
	_, err = widen.Update(context.Background(), nil, &e, time.Now())
	requireField(t, err, "event_types", "shipment.created", "")
}

func TestDCSAEndpointSignsWithAnHMACSecret(t *testing.T) {
	dcsa := subscriptions.FormatDCSA
	in := subscriptions.EndpointInput{EventTypes: &[]string{"shipment.updated"}, SignatureScheme: signing.V1a}
	in.Format = &dcsa
	_, err := newEndpoint(t, in)
	requireField(t, err, "format", "whsec_", "")

	in.SignatureScheme = ""
	e, err := newEndpoint(t, in)
	require.NoError(t, err)
	require.Equal(t, signing.V1, e.Scheme())
	err = subscriptions.RotateInput{SignatureScheme: signing.V1a}.Rotate(&e, time.Now())
	requireField(t, err, "signature_scheme", "whsk_", "")
	require.NoError(t, subscriptions.RotateInput{}.Rotate(&e, time.Now()))
}

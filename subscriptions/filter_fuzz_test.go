package subscriptions

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzFilter reads arbitrary JSON as an endpoint filter. A filter that
// validates comes back unchanged through MarshalJSON and UnmarshalJSON,
// matches an event carrying its own values and refuses one carrying none of
// them; one that does not validate says which key is at fault.
func FuzzFilter(f *testing.F) {
	for _, seed := range []string{
		`{"shipment.mode": ["ocean", "air"], "role": "consignee"}`,
		`{"shipment.origin": "CNSHA", "shipment.destination": ["NLRTM"], "shipment.carrier": "MSCU"}`,
		`{}`, `null`, `[]`, `"ocean"`, `{"role": null}`, `{"role": []}`, `{"role": [""]}`,
		`{"role": [1]}`, `{"color": "red"}`, `{"role": "a", "role": "b"}`, `{"role": "\u00df\u017f"}`,
		`{"shipment.mode": "OCEAN"`,
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, raw []byte) {
		var filter Filter
		if err := json.Unmarshal(raw, &filter); err != nil {
			return
		}
		if err := filter.Validate(); err != nil {
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "%T: %v", err, err)
			require.True(t, strings.HasPrefix(fe.Field, "filter."), fe.Field)
			return
		}

		enc, err := json.Marshal(filter)
		require.NoError(t, err)
		var again Filter
		require.NoError(t, json.Unmarshal(enc, &again), "%s", enc)
		require.Equal(t, filter, again, "%s", enc)

		own := func(key string) string {
			if vs := filter[key]; len(vs) > 0 {
				return vs[len(vs)-1]
			}
			return ""
		}
		require.True(t, filter.Matches(own), "a filter matches an event with its own values")
		// A value longer, in runes, than every allowed one equals none of
		// them, even ignoring case.
		none := func(key string) string { return strings.Join(filter[key], "") + "x" }
		require.Equal(t, len(filter) == 0, filter.Matches(none))
	})
}

package subscriptions_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

func TestMaskHeader(t *testing.T) {
	for _, tc := range []struct{ value, shown string }{
		{"", ""},
		{"1234", "••••••"},
		{"fifteen-chars-x", "••••••"},
		{"sixteen-chars-xy", "••••••s-xy"},
		{"Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "••••••.sig"},
		{"ünïcödé-välüé-ßß", "••••••é-ßß"},
	} {
		require.Equal(t, tc.shown, subscriptions.MaskHeader(tc.value), tc.value)
	}
}

// TestHeadersJSON checks that an endpoint's JSON masks its header values,
// and that a request giving them back as shown keeps them.
func TestHeadersJSON(t *testing.T) {
	e := subscriptions.Endpoint{ID: "ep1", Secret: "whsec_x"}
	e.Headers = subscriptions.Headers{"Authorization": "Bearer 0123456789abcdef", "X-Account": "1234"}
	raw, err := json.Marshal(e)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "0123456789")
	require.NotContains(t, string(raw), "1234")
	require.NotContains(t, string(raw), "whsec_x")
	var shown struct {
		Headers map[string]string `json:"headers"`
	}
	require.NoError(t, json.Unmarshal(raw, &shown))
	require.Equal(t, map[string]string{"Authorization": "••••••cdef", "X-Account": "••••••"}, shown.Headers)

	// Sent back as shown, with one value changed and one header added: the
	// masked one keeps its value.
	in := shown.Headers
	in["X-Account"] = "5678"
	in["X-New"] = "new"
	update(t, &e, `{"headers": `+mustMarshal(t, in)+`}`)
	require.Equal(t, subscriptions.Headers{"Authorization": "Bearer 0123456789abcdef", "X-Account": "5678", "X-New": "new"}, e.Headers)

	// A mask under another name, or of another value, is a value like any.
	update(t, &e, `{"headers": {"X-Other": "••••••cdef", "X-Account": "••••••"}}`)
	require.Equal(t, subscriptions.Headers{"X-Other": "••••••cdef", "X-Account": "5678"}, e.Headers)

	update(t, &e, `{"headers": {}}`)
	require.Nil(t, e.Headers)
}

// update applies the request body to e.
func update(t *testing.T, e *subscriptions.Endpoint, body string) {
	t.Helper()
	var in subscriptions.EndpointInput
	require.NoError(t, json.Unmarshal([]byte(body), &in))
	_, err := in.Update(t.Context(), nil, e, time.Now())
	require.NoError(t, err)
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

package subscriptions

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckJSONText(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		field     string // of the *FieldError; "" for none
		malformed bool
	}{
		{"plain", `{"a":"b","c":[1,"d",{"e":null}]}`, "", false},
		{"non-ASCII", `{"city":"Zürich","emoji":"📦","esc":"\u00fc"}`, "", false},
		{"an escaped backslash before u0000", `{"path":"C:\\u0000"}`, "", false},
		{"NUL at the top", `{"a":"\u0000"}`, "a", false},
		{"NUL after an escaped backslash", `{"a":"\\\u0000"}`, "a", false},
		{"NUL in an array", `{"a":{"b":["x","y\u0000"]}}`, "a.b[1]", false},
		{"NUL in a key", `{"a":{"k\u0000":1}}`, "a.k\x00", false},
		{"NUL in a top-level array", `["x",{"b":"\u0000"}]`, "[1].b", false},
		{"invalid UTF-8 in a value", "{\"a\":[{\"b\":\"\xff\"}]}", "a[0].b", false},
		{"invalid UTF-8 in a key", "{\"\xc3\":1}", "\ufffd", false},
		{"invalid UTF-8 outside strings", "{\"a\":1}\xff", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckJSONText([]byte(tc.raw))
			switch {
			case tc.malformed:
				var e *Error
				require.ErrorAs(t, err, &e)
				require.Equal(t, "invalid_json", e.Code)
			case tc.field == "":
				require.NoError(t, err)
			default:
				var fe *FieldError
				require.ErrorAs(t, err, &fe)
				require.Equal(t, tc.field, fe.Field)
				require.Equal(t, textMessage, fe.Message)
			}
		})
	}
}

func TestStorableText(t *testing.T) {
	require.True(t, StorableText("Zürich 📦"))
	require.True(t, StorableText(""))
	require.False(t, StorableText("a\x00b"))
	require.False(t, StorableText("a\xffb"))
}

// BenchmarkCheckJSONText is the cost UnmarshalJSON adds to decoding a
// posted event whose text is storable.
func BenchmarkCheckJSONText(b *testing.B) {
	raw := []byte(`{"id":"tms-4711","type":"shipment.milestone.departed","occurred_at":"2026-11-26T14:05:00Z",` +
		`"shipment":{"id":"SHP-4711","mode":"ocean","origin":"CNSHA","destination":"NLRTM","carrier":"MSCU"},` +
		`"parties":[{"partner_id":"acme","role":"shipper"},{"partner_id":"globex","role":"consignee"}],` +
		`"data":{"location":{"code":"CNSHA","name":"Shanghai"},"vessel":"MSC OSCAR","voyage":"FE547W"}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := CheckJSONText(raw); err != nil {
			b.Fatal(err)
		}
	}
}

package subscriptions

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzNormalizeData gives NormalizeData arbitrary data for the types with
// decimals and places. Refused data is a *FieldError naming a field under
// data. Accepted data normalises to itself, and decodes to what was given
// but for the values the shape rewrites: a number became a decimal string
// of the same value, a UN/LOCODE string the object {"code": it}.
func FuzzNormalizeData(f *testing.F) {
	types := []string{"shipment.invoice.issued", "shipment.charge.updated", "shipment.updated", "shipment.milestone.arrived"}
	for _, seed := range []struct {
		typ  uint8
		data string
	}{
		{0, `{"invoice_number":"INV-1","amount":2452.37,"currency":"EUR"}`},
		{0, `{"invoice_number":"INV-1","amount":"12345678901234567.891","currency":"EUR","amount":1.5e-3}`},
		{0, `{"invoice_number":"INV-1","amo\u0075nt":-0.0e+12,"currency":"EUR"}`},
		{1, `{"charges":[{"code":"A","amount":1e27,"currency":"EUR"},{"code":"B","amount":"-0.10","currency":"USD","x":[1.0e400]}]}`},
		{2, `{"routing":[{"from":"CNSHA","to":{"code":"NLRTM","name":"R"},"mode":"ocean"},{"from":"NLRTM","to":"DEHAM","mode":"rail"}]}`},
		{3, `{"location":"NLRTM"}`},
		{3, `{"location":"\u004eLRTM", "location": {"code":"X"}}`},
	} {
		f.Add(seed.typ, []byte(seed.data))
	}
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		name := types[int(typ)%len(types)]
		out, err := NormalizeData(name, data)
		if err != nil {
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "%T: %v", err, err)
			require.True(t, fe.Field == "data" || len(fe.Field) > 5 && (fe.Field[:5] == "data." || fe.Field[:5] == "data["), fe.Field)
			return
		}
		again, err := NormalizeData(name, out)
		require.NoError(t, err, "%s", out)
		require.Equal(t, string(out), string(again), "normalised data normalises to itself")
		require.Equal(t, string(out), string(DeliveredData(name, out)))

		given, delivered := decodeNumbers(t, data), decodeNumbers(t, out)
		requireSameBut(t, given, delivered, "data")
	})
}

func decodeNumbers(t *testing.T, raw []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "%s", raw)
	return v
}

// requireSameBut checks that delivered is given, but for numbers written
// as decimal strings of the same value and UN/LOCODE strings written as
// {"code": …}.
func requireSameBut(t *testing.T, given, delivered any, path string) {
	t.Helper()
	switch g := given.(type) {
	case map[string]any:
		d, ok := delivered.(map[string]any)
		require.True(t, ok, "%s: %T", path, delivered)
		require.Len(t, d, len(g), path)
		for k, v := range g {
			requireSameBut(t, v, d[k], path+"."+k)
		}
	case []any:
		d, ok := delivered.([]any)
		require.True(t, ok, "%s: %T", path, delivered)
		require.Len(t, d, len(g), path)
		for i := range g {
			requireSameBut(t, g[i], d[i], path+"["+strconv.Itoa(i)+"]")
		}
	case json.Number:
		if s, ok := delivered.(string); ok {
			require.True(t, isPlainDecimal(s), "%s: %q", path, s)
			a, okA := new(big.Rat).SetString(string(g))
			b, okB := new(big.Rat).SetString(s)
			require.True(t, okA && okB && a.Cmp(b) == 0, "%s: %s delivered as %q", path, g, s)
			return
		}
		require.Equal(t, g, delivered, path)
	case string:
		if d, ok := delivered.(map[string]any); ok {
			require.Equal(t, map[string]any{"code": g}, d, path)
			require.True(t, IsLocode(g), "%s: %q", path, g)
			return
		}
		require.Equal(t, g, delivered, path)
	default:
		require.Equal(t, given, delivered, path)
	}
}

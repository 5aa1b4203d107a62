package subscriptions

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// invoice is an invoice's data with amount as its raw JSON value.
func invoice(amount string) string {
	return `{"invoice_number":"INV-1","amount":` + amount + `,"currency":"EUR"}`
}

func TestNormalizeDataDecimals(t *testing.T) {
	tests := []struct {
		name, amount string
		want         string // the amount delivered, raw JSON
	}{
		{"a number becomes its own text", `2452.37`, `"2452.37"`},
		{"a decimal string is kept", `"2452.37"`, `"2452.37"`},
		{"20 significant digits as a string", `"12345678901234567.891"`, `"12345678901234567.891"`},
		{"20 significant digits as a number", `12345678901234567.891`, `"12345678901234567.891"`},
		{"0.1 + 0.2 as float64 prints it", `0.30000000000000004`, `"0.30000000000000004"`},
		{"trailing zeros are digits too", `10.50`, `"10.50"`},
		{"negative zero as given", `"-0.00"`, `"-0.00"`},
		{"a credit", `-120`, `"-120"`},
		{"28 digits", `"1234567890123456789012345678"`, `"1234567890123456789012345678"`},
		{"28 digits in a fraction", `0.123456789012345678901234567`, `"0.123456789012345678901234567"`},
		{"an exponent is written out", `2.45237e3`, `"2452.37"`},
		{"a capital E and a plus", `1.50E+1`, `"15.0"`},
		{"a negative exponent", `5e-3`, `"0.005"`},
		{"zeros the point moves past", `-1e2`, `"-100"`},
		{"a zero with an exponent", `0.0e5`, `"0"`},
		{"leading zeros of the fraction", `0.05e-1`, `"0.005"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := NormalizeData("shipment.invoice.issued", json.RawMessage(invoice(tt.amount)))
			require.NoError(t, err)
			require.Equal(t, invoice(tt.want), string(out), "every other byte as given")
			again, err := NormalizeData("shipment.invoice.issued", out)
			require.NoError(t, err)
			require.Equal(t, string(out), string(again), "normalised data normalises to itself")
		})
	}
}

func TestNormalizeDataRefusesDecimals(t *testing.T) {
	tests := []struct {
		name, amount, message string
	}{
		{"an exponent past the digits allowed", `1e400`, `1e400 has 401 digits written out; at most 28 are allowed`},
		{"an exponent past any bound", `1e999999999999`, `1e999999999999 has too many digits written out`},
		{"a tiny exponent", `-1e-999999999`, `has too many digits written out`},
		{"a fraction far down", `1e-28`, `1e-28 has 29 digits written out`},
		{"29 digits as a number", `12345678901234567890.123456789`, `has 29 digits; at most 28 are allowed`},
		{"29 digits as a string", `"12345678901234567890123456789"`, `has 29 digits; at most 28 are allowed`},
		{"an exponent in a string", `"2.4e3"`, `"2.4e3" is not a decimal string: write it without an exponent`},
		{"a comma", `"1,000.00"`, `"1,000.00" is not a decimal number: give a JSON number or a string of digits`},
		{"a plus sign", `"+5"`, `is not a decimal number`},
		{"a leading zero", `"05"`, `is not a decimal number`},
		{"no integer part", `".5"`, `is not a decimal number`},
		{"no fraction after the point", `"5."`, `is not a decimal number`},
		{"spaces", `" 5"`, `is not a decimal number`},
		{"empty", `""`, `is not a decimal number`},
		{"a sign alone", `"-"`, `is not a decimal number`},
		{"hexadecimal", `"0x10"`, `is not a decimal number`},
		{"not a number", `"NaN"`, `is not a decimal number`},
		{"infinity", `"Infinity"`, `is not a decimal number`},
		{"a currency sign", `"€12"`, `is not a decimal number`},
		{"an object", `{"x":1}`, `must be a decimal, given as a JSON number or a string such as "2452.37", not an object`},
		{"an array", `[1]`, `must be a decimal, given as a JSON number or a string such as "2452.37", not an array`},
		{"true", `true`, `must be a decimal`},
		{"null", `null`, `must be a decimal`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NormalizeData("shipment.invoice.issued", json.RawMessage(invoice(tt.amount)))
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, "data.amount", fe.Field, fe.Message)
			require.Contains(t, fe.Message, tt.message)
			require.NoError(t, checkStorableMessage(fe.Message))
		})
	}
}

// checkStorableMessage fails for a message too long to read at a glance,
// which a value quoted whole would make.
func checkStorableMessage(m string) error {
	if len(m) > 400 {
		return Fieldf("message", "%d bytes", len(m))
	}
	return nil
}

func TestNormalizeDataCharges(t *testing.T) {
	in := `{ "charges": [
		{"code": "FRT", "amount": 1850, "currency": "USD", "rate": 1.5e2},
		{"code": "THC", "amount": "245.50", "currency": "EUR"},
		{"amo\u0075nt": -0.10, "code": "DEM", "currency": "EUR"}
	], "note": "ünïcödé \u00e9" }`
	out, err := NormalizeData("shipment.charge.updated", json.RawMessage(in))
	require.NoError(t, err)
	require.Equal(t, `{"charges":[`+
		`{"code":"FRT","amount":"1850","currency":"USD","rate":1.5e2},`+
		`{"code":"THC","amount":"245.50","currency":"EUR"},`+
		`{"amo\u0075nt":"-0.10","code":"DEM","currency":"EUR"}`+
		`],"note":"ünïcödé \u00e9"}`, string(out),
		"amounts become strings; key order, escapes and other numbers stay as given")

	_, err = NormalizeData("shipment.charge.updated", json.RawMessage(`{"charges":[{"code":"A","amount":1,"currency":"EUR"},{"code":"B","amount":1e99,"currency":"EUR"}]}`))
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "data.charges[1].amount", fe.Field)

	_, err = NormalizeData("shipment.charge.updated", json.RawMessage(`{"charges":[{"code":"A","amount":"1","currency":"eur"}]}`))
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "data.charges[0].currency", fe.Field)
	require.Contains(t, fe.Message, "ISO 4217")
}

func TestNormalizeDataCurrency(t *testing.T) {
	for _, ok := range []string{"EUR", "USD", "JPY", "ZWG", "XXX"} {
		_, err := NormalizeData("shipment.invoice.issued", json.RawMessage(`{"invoice_number":"1","amount":"1","currency":"`+ok+`"}`))
		require.NoError(t, err, ok)
	}
	for _, bad := range []string{"eur", "EURO", "EU", "€", "E1R", ""} {
		_, err := NormalizeData("shipment.invoice.issued", json.RawMessage(`{"invoice_number":"1","amount":"1","currency":"`+bad+`"}`))
		var fe *FieldError
		require.ErrorAs(t, err, &fe, bad)
		require.Equal(t, "data.currency", fe.Field)
		require.Contains(t, fe.Message, "ISO 4217 currency code: three capital letters")
	}
}

func TestNormalizeDataPlaces(t *testing.T) {
	tests := []struct {
		name, typ, in, want string
	}{
		{"a UN/LOCODE string becomes the object", "shipment.milestone.arrived", `{"location":"NLRTM","vessel":"MSC OSCAR"}`, `{"location":{"code":"NLRTM"},"vessel":"MSC OSCAR"}`},
		{"an object is kept", "shipment.milestone.arrived", `{"location":{"code":"NLRTM","name":"Rotterdam"}}`, `{"location":{"code":"NLRTM","name":"Rotterdam"}}`},
		{"digits 2-9", "shipment.milestone.departed", `{"location":"US2AB"}`, `{"location":{"code":"US2AB"}}`},
		{"escapes as given", "shipment.milestone.departed", `{"location":"\u004eLRTM"}`, `{"location":{"code":"\u004eLRTM"}}`},
		{"legs of a route", "shipment.updated", `{"routing":[{"from":"CNSHA","to":{"name":"Hub Venlo"},"mode":"ocean"},{"from":{"code":"NLRTM"},"to":"DEHAM","mode":"rail"}]}`,
			`{"routing":[{"from":{"code":"CNSHA"},"to":{"name":"Hub Venlo"},"mode":"ocean"},{"from":{"code":"NLRTM"},"to":{"code":"DEHAM"},"mode":"rail"}]}`},
		{"an optional location", "shipment.milestone.exception", `{"code":"DAMAGED","description":"Crushed","location":"USLAX"}`, `{"code":"DAMAGED","description":"Crushed","location":{"code":"USLAX"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := NormalizeData(tt.typ, json.RawMessage(tt.in))
			require.NoError(t, err)
			require.Equal(t, tt.want, string(out))
			again, err := NormalizeData(tt.typ, out)
			require.NoError(t, err)
			require.Equal(t, string(out), string(again))
		})
	}

	refused := []struct {
		name, typ, in, field, message string
	}{
		{"a name is not a code", "shipment.milestone.arrived", `{"location":"Rotterdam"}`, "data.location", `"Rotterdam" is not a UN/LOCODE`},
		{"lower case", "shipment.milestone.arrived", `{"location":"nlrtm"}`, "data.location", `give a place as its UN/LOCODE or as an object`},
		{"a 1 is not a UN/LOCODE digit", "shipment.milestone.arrived", `{"location":"NLRT1"}`, "data.location", "UN/LOCODE"},
		{"a leg's end", "shipment.updated", `{"routing":[{"from":"CNSHA","to":"Hamburg","mode":"rail"}]}`, "data.routing[0].to", "UN/LOCODE"},
		{"a number", "shipment.milestone.arrived", `{"location":5}`, "data.location", `must be a place, given as an object with its "code" and "name" or as its UN/LOCODE such as "NLRTM", not a number`},
		{"an object's code", "shipment.milestone.arrived", `{"location":{"code":"Rotterdam"}}`, "data.location.code", "does not have the expected form (UN/LOCODE of the place"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NormalizeData(tt.typ, json.RawMessage(tt.in))
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.field, fe.Field, fe.Message)
			require.Contains(t, fe.Message, tt.message)
		})
	}
}

func TestExpand(t *testing.T) {
	tests := []struct{ lit, want string }{
		{"0", "0"}, {"-0", "-0"}, {"1e0", "1"}, {"1e1", "10"}, {"1e-1", "0.1"}, {"12.5e-1", "1.25"},
		{"12.5e-3", "0.0125"}, {"0.000e2", "0.0"}, {"0e-3", "0.000"}, {"9.99e27", "9990000000000000000000000000"},
		{"123.456e1", "1234.56"}, {"123.456e3", "123456"}, {"123.456e4", "1234560"}, {"-0.5E+0", "-0.5"},
	}
	for _, tt := range tests {
		got, err := decimalOfNumber(tt.lit)
		require.NoError(t, err, tt.lit)
		require.Equal(t, tt.want, got, tt.lit)
		require.NoError(t, checkDecimalString(got), "%s gives a decimal string", tt.lit)
	}
	for _, lit := range []string{"1e28", "1e-28", "1e2147483648", "1e", "1e+", "abc"} {
		_, err := decimalOfNumber(lit)
		require.Error(t, err, lit)
	}
}

func TestDeliveredData(t *testing.T) {
	// Stored before decimals were strings: the number becomes its string.
	old := json.RawMessage(`{"invoice_number":"INV-1","amount":2452.37,"currency":"EUR"}`)
	require.Equal(t, invoice(`"2452.37"`), string(DeliveredData("shipment.invoice.issued", old)))
	require.Equal(t, `{"charges":[{"code":"A","amount":"-12.50","currency":"EUR"}]}`,
		string(DeliveredData("shipment.charge.updated", json.RawMessage(`{"charges":[{"code":"A","amount":-12.50,"currency":"EUR"}]}`))))

	// A number that is no decimal within bounds stays as stored.
	huge := json.RawMessage(invoice(`1e400`))
	require.Equal(t, string(huge), string(DeliveredData("shipment.invoice.issued", huge)))

	// Data in the delivered form, and types without decimals, come back
	// as they are, not copied.
	for typ, data := range map[string]string{
		"shipment.invoice.issued":      invoice(`"2452.37"`),
		"shipment.milestone.delivered": `{"location":{"code":"NLRTM"}}`,
		"shipment.teleported":          `{"amount":1}`,
		"shipment.charge.updated":      `{}`,
	} {
		in := json.RawMessage(data)
		out := DeliveredData(typ, in)
		require.Equal(t, data, string(out), typ)
		require.Same(t, &in[0], &out[0], "%s: not copied", typ)
	}
	// Data that is not compact JSON is left alone.
	for _, bad := range []string{`{"amount": 1}`, `{"amount":1`, `{"amount"`, `{"charges":[{"amount":1}`} {
		require.Equal(t, bad, string(DeliveredData("shipment.invoice.issued", json.RawMessage(bad))), bad)
	}
}

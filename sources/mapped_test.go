package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

// wmsMapping turns a payload of a warehouse system into a milestone, its
// type looked up in the status table; it is the example of
// docs/mapped-sources.md.
const wmsMapping = `select(.status != "PING")          # heartbeats mean nothing to partners
| {
    id: .msg_id,
    type: (.status | code("status")),
    occurred_at: .ts,
    shipment: {references: {purchase_orders: [.order]}},
    data: {location: {code: .warehouse}, description: "Received at the warehouse"}
  }`

var wmsCodes = map[string]map[string]string{
	"status": {"RCV": "shipment.milestone.received", "DSP": "shipment.milestone.departed"},
}

const wmsPayload = `{"msg_id":"W-1","status":"RCV","ts":"2026-11-30T08:00:00Z","order":"PO-4711","warehouse":"NLRTM"}`

func compile(t *testing.T, program string, codes map[string]map[string]string) *Mapping {
	t.Helper()
	m, err := CompileMapping(program, codes)
	require.NoError(t, err)
	return m
}

func translate(t *testing.T, m *Mapping, body string) []Item {
	t.Helper()
	items, err := m.Translate(context.Background(), []byte(body))
	require.NoError(t, err)
	return items
}

// requireItemError checks that item failed with code and a message that
// holds every one of parts.
func requireItemError(t *testing.T, item Item, code string, parts ...string) {
	t.Helper()
	require.Empty(t, item.Events)
	var e *subscriptions.Error
	require.True(t, errors.As(item.Err, &e), "item error %v (%T) is not a *subscriptions.Error", item.Err, item.Err)
	require.Equal(t, code, e.Code, e.Message)
	for _, p := range parts {
		require.Contains(t, e.Message, p)
	}
}

func TestMappedWMSPayloadBecomesReceived(t *testing.T) {
	m := compile(t, wmsMapping, wmsCodes)
	items := translate(t, m, wmsPayload)

	require.Len(t, items, 1)
	require.NoError(t, items[0].Err)
	require.JSONEq(t, wmsPayload, string(items[0].Original))
	require.Len(t, items[0].Events, 1)
	require.Equal(t, `{"data":{"description":"Received at the warehouse","location":{"code":"NLRTM"}},`+
		`"id":"W-1","occurred_at":"2026-11-30T08:00:00Z",`+
		`"shipment":{"references":{"purchase_orders":["PO-4711"]}},"type":"shipment.milestone.received"}`,
		string(items[0].Events[0]), "the event, keys in order")

	// The event is one the catalog knows, with data its type accepts.
	var ev struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(items[0].Events[0], &ev))
	_, ok := subscriptions.LookupType(ev.Type)
	require.True(t, ok, "%s is in the catalog", ev.Type)
	_, err := subscriptions.NormalizeData(ev.Type, ev.Data)
	require.NoError(t, err)
}

func TestMappedUnknownCodeIsNamed(t *testing.T) {
	m := compile(t, wmsMapping, wmsCodes)
	items := translate(t, m, strings.Replace(wmsPayload, `"RCV"`, `"XX"`, 1))

	require.Len(t, items, 1)
	requireItemError(t, items[0], "unknown_code", `no entry for "XX" in code table status`)
	require.JSONEq(t, strings.Replace(wmsPayload, `"RCV"`, `"XX"`, 1), string(items[0].Original), "the payload is kept")
}

func TestMappedCodesLookupWithoutEntryHasNoType(t *testing.T) {
	m := compile(t, `{id: .msg_id, type: $codes.status[.status]}`, wmsCodes)
	items := translate(t, m, `[{"msg_id":"W-1","status":"DSP"},{"msg_id":"W-2","status":"XX"}]`)

	require.Len(t, items, 2)
	require.NoError(t, items[0].Err)
	require.JSONEq(t, `{"id":"W-1","type":"shipment.milestone.departed"}`, string(items[0].Events[0]))
	requireItemError(t, items[1], "invalid_mapping_output", "output 1 of the mapping has no type", `code("status")`)
}

func TestMappedCodeAcceptsNumbers(t *testing.T) {
	m := compile(t, `{type: (.status | code("status"))}`, map[string]map[string]string{"status": {"10": "shipment.milestone.booked"}})
	items := translate(t, m, `[{"status": 10}, {"status": "10"}, {"status": null}]`)

	require.JSONEq(t, `{"type":"shipment.milestone.booked"}`, string(items[0].Events[0]))
	require.JSONEq(t, `{"type":"shipment.milestone.booked"}`, string(items[1].Events[0]))
	requireItemError(t, items[2], "mapping_failed", `code("status") was given null`)
}

func TestMappedCompileRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, program string
		want          []string
	}{
		{"syntax error", ".status |\n  {type: }", []string{"line 2, column 10", `unexpected token "}"`}},
		{"unexpected end", "{type: .x", []string{"line 1, column 10", "unexpected EOF"}},
		{"column in characters", `"é" | ) `, []string{"line 1, column 7"}},
		{"unknown function", ".a | nosuch", []string{"function not defined: nosuch/0"}},
		{"env", `{type: env.HOME}`, []string{"uses env", "environment"}},
		{"$ENV", `{type: $ENV.DATABASE_URL}`, []string{"uses $ENV", "environment"}},
		{"input", `[., input]`, []string{"uses input"}},
		{"inputs", `[inputs]`, []string{"uses inputs"}},
		{"import", `import "a" as a; .`, []string{"without modules"}},
		{"debug", `debug`, []string{"function not defined: debug/0"}},
		{"stderr", `stderr`, []string{"function not defined: stderr/0"}},
		{"unknown table", `{type: (.s | code("statuses"))}`, []string{`no code table "statuses"`, "status"}},
		{"empty", "  ", []string{"is required"}},
		{"too large", "." + strings.Repeat(" ", MaxMappingSize), []string{"at most 64 KiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileMapping(tc.program, wmsCodes)
			var e *subscriptions.Error
			require.True(t, errors.As(err, &e), "error %v (%T)", err, err)
			require.Equal(t, subscriptions.Malformed, e.Kind)
			require.Equal(t, "invalid_mapping", e.Code)
			require.Equal(t, "program", e.Field)
			for _, w := range tc.want {
				require.Contains(t, e.Message, w)
			}
		})
	}
}

func TestMappedCompileChecksCodes(t *testing.T) {
	big := map[string]string{}
	for i := range MaxCodes + 1 {
		big[fmt.Sprint(i)] = "x"
	}
	_, err := CompileMapping(".", map[string]map[string]string{"a": big})
	var e *subscriptions.Error
	require.True(t, errors.As(err, &e), "error %v", err)
	require.Equal(t, "codes", e.Field)
	require.Contains(t, e.Message, "at most 10000")

	_, err = CompileMapping(".", map[string]map[string]string{"status": {"RCV": "bad\x00"}})
	var fe *subscriptions.FieldError
	require.True(t, errors.As(err, &fe), "error %v", err)
	require.Equal(t, `codes.status["RCV"]`, fe.Field)

	_, err = CompileMapping(".", map[string]map[string]string{"st\xffatus": {"RCV": "x"}})
	require.True(t, errors.As(err, &fe), "error %v", err)

	_, err = CompileMapping(".", map[string]map[string]string{"": {"RCV": "x"}})
	require.True(t, errors.As(err, &e), "error %v", err)
	require.Contains(t, e.Message, "needs a name")

	delete(big, "0")
	_, err = CompileMapping(".", map[string]map[string]string{"a": big})
	require.NoError(t, err, "exactly %d codes are allowed", MaxCodes)
}

func TestMappedEndlessProgramTimesOut(t *testing.T) {
	for _, program := range []string{`def f: f; f`, `last(repeat(.))`, `[range(1e12)] | {type: "x"}`} {
		t.Run(program, func(t *testing.T) {
			m := compile(t, program, nil)
			start := time.Now()
			items := translate(t, m, `[{"a": 1}, {"a": 2}]`)
			require.Len(t, items, 2)
			requireItemError(t, items[0], "mapping_timeout", "longer than 100ms")
			requireItemError(t, items[1], "mapping_timeout", "longer than 100ms")
			// Generous: this checks that the limit stops the program at
			// all, not how fast.
			require.Less(t, time.Since(start), 10*time.Second)
		})
	}
}

func TestMappedBodyTimeLimit(t *testing.T) {
	m := compile(t, `def f: f; f`, nil)
	body := "[" + strings.TrimSuffix(strings.Repeat(`{"a":1},`, 60), ",") + "]"
	items := translate(t, m, body)
	require.Len(t, items, 60)
	requireItemError(t, items[0], "mapping_timeout", "on this payload")
	requireItemError(t, items[59], "mapping_timeout", "not translated", "5s")
}

func TestMappedOutputLimits(t *testing.T) {
	m := compile(t, `range(101) | {type: "shipment.milestone.received", n: .}`, nil)
	requireItemError(t, translate(t, m, `{}`)[0], "too_many_events", "more than 100 events")

	m = compile(t, `range(100) | {type: "shipment.milestone.received", n: .}`, nil)
	require.Len(t, translate(t, m, `{}`)[0].Events, 100)

	m = compile(t, `{type: "shipment.milestone.received", big: ("x" * 300000)}`, nil)
	requireItemError(t, translate(t, m, `{}`)[0], "event_too_large", "at most 256 KiB")
}

func TestMappedOutputMustBeEvents(t *testing.T) {
	for program, want := range map[string]string{
		`"shipment.milestone.received"`:    "output 1 of the mapping is a string",
		`{type: "a"}, [1]`:                 "output 2 of the mapping is an array",
		`{type: 3}`:                        "type that is a number",
		`{type: ""}`:                       "empty type",
		`{id: .a}`:                         "has no type",
		`error("the source sent rubbish")`: "the source sent rubbish",
		`.a.b.c`:                           "mapping failed",
		`halt_error`:                       "mapping failed",
	} {
		t.Run(program, func(t *testing.T) {
			m := compile(t, program, nil)
			item := translate(t, m, `{"a": 5}`)[0]
			require.Error(t, item.Err)
			require.Empty(t, item.Events)
			require.Contains(t, item.Err.Error(), want)
		})
	}
}

func TestMappedZeroEventsIsNoError(t *testing.T) {
	m := compile(t, wmsMapping, wmsCodes)
	items := translate(t, m, `[{"status":"PING"},`+wmsPayload+`]`)
	require.Len(t, items, 2)
	require.NoError(t, items[0].Err)
	require.Empty(t, items[0].Events)
	require.JSONEq(t, `{"status":"PING"}`, string(items[0].Original))
	require.NoError(t, items[1].Err)
	require.Len(t, items[1].Events, 1)

	m = compile(t, `{type: "shipment.milestone.received"}, halt, {type: "shipment.milestone.departed"}`, nil)
	items = translate(t, m, `{}`)
	require.NoError(t, items[0].Err)
	require.Equal(t, []json.RawMessage{json.RawMessage(`{"type":"shipment.milestone.received"}`)}, items[0].Events, "halt ends the outputs")

	m = compile(t, `empty`, nil)
	items = translate(t, m, `{}`)
	require.NoError(t, items[0].Err)
	require.Empty(t, items[0].Events)
}

func TestMappedArrayIsOneItemPerPayload(t *testing.T) {
	m := compile(t, wmsMapping, wmsCodes)
	body := `[` + wmsPayload + `,
	  {"msg_id":"W-2","status":"XX"},
	  "not an object",
	  ` + strings.Replace(wmsPayload, "W-1", "W-3", 1) + `]`
	items := translate(t, m, body)

	require.Len(t, items, 4)
	require.NoError(t, items[0].Err)
	require.Contains(t, string(items[0].Events[0]), `"id":"W-1"`)
	requireItemError(t, items[1], "unknown_code", `"XX"`)
	requireItemError(t, items[2], "invalid_payload", "is a string", "must be a JSON object")
	require.Equal(t, `"not an object"`, string(items[2].Original))
	require.NoError(t, items[3].Err)
	require.Contains(t, string(items[3].Events[0]), `"id":"W-3"`)
}

func TestMappedPayloadTextMustBeStorable(t *testing.T) {
	m := compile(t, `{type: "x"}`, nil)
	items := translate(t, m, `[{"note": "a\u0000b"}, {}]`)
	var fe *subscriptions.FieldError
	require.True(t, errors.As(items[0].Err, &fe), "error %v", items[0].Err)
	require.Equal(t, "note", fe.Field)
	require.NoError(t, items[1].Err)
}

func TestMappedBodyThatCannotBeRead(t *testing.T) {
	m := compile(t, wmsMapping, wmsCodes)
	for body, want := range map[string]string{
		``:                "is empty",
		`not json`:        "not valid JSON",
		`{"a": 1`:         "not valid JSON",
		`[]`:              "array is empty",
		`"a string"`:      "the body is a string",
		`{"a": 1} {}`:     "unexpected data",
		tooManyPayloads(): "at most 500",
	} {
		t.Run(want, func(t *testing.T) {
			items, err := m.Translate(context.Background(), []byte(body))
			require.Nil(t, items)
			var e *subscriptions.Error
			require.True(t, errors.As(err, &e), "error %v (%T)", err, err)
			require.Contains(t, e.Message, want)
		})
	}
}

func tooManyPayloads() string {
	return "[" + strings.TrimSuffix(strings.Repeat("{},", MaxPayloads+1), ",") + "]"
}

func TestMappedKeepsDigits(t *testing.T) {
	m := compile(t, `{type: "shipment.invoice.issued", data: {invoice_number: .no, amount: .total, currency: "EUR",
		tax: .tax, big: .big, list: [.lines[].amount]}}`, nil)
	items := translate(t, m, `{"no": "INV-1", "total": 2452.37, "tax": "2452.37",
		"big": 12345678901234567890.123456789, "lines": [{"amount": 0.10}, {"amount": 1e2}]}`)
	require.NoError(t, items[0].Err)
	require.Equal(t, `{"data":{"amount":2452.37,"big":12345678901234567890.123456789,"currency":"EUR",`+
		`"invoice_number":"INV-1","list":[0.10,1e2],"tax":"2452.37"},"type":"shipment.invoice.issued"}`,
		string(items[0].Events[0]))
}

func TestMappedStopsWithItsContext(t *testing.T) {
	m := compile(t, `def f: f; f`, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	items, err := m.Translate(ctx, []byte(`[{}, {}]`))
	require.Nil(t, items)
	require.ErrorIs(t, err, context.Canceled)
}

// BenchmarkMappedTranslate translates a body of 100 payloads of a
// warehouse system with a mapping of the size sources use.
func BenchmarkMappedTranslate(b *testing.B) {
	m, err := CompileMapping(`
def place: if .warehouse then {code: .warehouse, name: .warehouse_name} else null end;
select(.status != "PING")
| {
    id: .msg_id,
    type: (.status | code("status")),
    occurred_at: .ts,
    shipment: {references: {purchase_orders: [.order], containers: [.lines[]?.container | select(. != null)] | unique}},
    data: {
      location: place,
      description: (.remark // ("Status " + .status)),
      pieces: ([.lines[]?.qty] | add)
    }
  }`, map[string]map[string]string{"status": {
		"RCV": "shipment.milestone.received", "DSP": "shipment.milestone.departed", "DLV": "shipment.milestone.delivered",
	}})
	require.NoError(b, err)
	statuses := []string{"RCV", "DSP", "DLV", "PING"}
	var parts []string
	for i := range 100 {
		parts = append(parts, fmt.Sprintf(`{"msg_id":"W-%d","status":%q,"ts":"2026-11-30T08:00:00Z","order":"PO-%d",
			"warehouse":"NLRTM","warehouse_name":"Rotterdam DC 2","remark":null,
			"lines":[{"sku":"A-1","qty":12,"container":"MSCU4829172"},{"sku":"B-7","qty":3,"container":"MSCU4829172"}]}`,
			i, statuses[i%len(statuses)], 4700+i))
	}
	body := []byte("[" + strings.Join(parts, ",") + "]")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		items, err := m.Translate(context.Background(), body)
		if err != nil || len(items) != 100 || items[0].Err != nil {
			b.Fatalf("translate: %v %v", err, items[0].Err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/payload")
}

func TestMappedIsSafeForConcurrentUse(t *testing.T) {
	m := compile(t, `.amount |= . | .type = (.status | code("status")) | .n = $codes.status.RCV`, wmsCodes)
	body := []byte(`[{"status":"RCV","amount":2452.37},{"status":"DSP","amount":"1.10"}]`)
	want := translate(t, m, string(body))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				items, err := m.Translate(context.Background(), body)
				if !assert.NoError(t, err) || !assert.Equal(t, want, items) {
					return
				}
			}
		})
	}
	wg.Wait()
	require.JSONEq(t, `{"amount":2452.37,"n":"shipment.milestone.received","status":"RCV","type":"shipment.milestone.received"}`, string(want[0].Events[0]))
}

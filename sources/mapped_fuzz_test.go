package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// FuzzMappedTranslate feeds any body to the documented WMS mapping: the
// answer is an error for the body, or one item per payload, each with
// events that are JSON objects or with an error, never both, and never a
// panic.
func FuzzMappedTranslate(f *testing.F) {
	for _, seed := range []string{
		wmsPayload, "[" + wmsPayload + "," + wmsPayload + "]", `{"status":"XX"}`, `{"status":null}`,
		`[1, "a", null, {}]`, `[]`, `{"status":"RCV","order":1e400}`, `{"status":"PING"}`, "\x00", `{"a":"\ud800"}`,
	} {
		f.Add([]byte(seed))
	}
	m, err := CompileMapping(wmsMapping, wmsCodes)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := m.Translate(context.Background(), body)
		if err != nil {
			if items != nil {
				t.Fatalf("items beside the error %v", err)
			}
			return
		}
		if len(items) == 0 || len(items) > MaxPayloads {
			t.Fatalf("%d items", len(items))
		}
		for i, it := range items {
			if !json.Valid(it.Original) {
				t.Fatalf("item %d: original %q is not JSON", i, it.Original)
			}
			if it.Err != nil && len(it.Events) > 0 {
				t.Fatalf("item %d has events and the error %v", i, it.Err)
			}
			for _, ev := range it.Events {
				var obj map[string]any
				dec := json.NewDecoder(bytes.NewReader(ev))
				dec.UseNumber()
				if err := dec.Decode(&obj); err != nil || obj["type"] == nil {
					t.Fatalf("item %d: event %s is not an object with a type: %v", i, ev, err)
				}
			}
		}
	})
}

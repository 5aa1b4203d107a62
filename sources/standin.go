package sources

// Stand-ins for the DCSA and mapped translators, so that this package
// builds and its tests run on their own. They are replaced by the real
// translators (dcsa*.go, mapped*.go and item.go) when those are merged,
// and this file is deleted then.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
)

// Item is one element of a source's payload (one DCSA event; one mapped
// payload) and the canonical events it became.
type Item struct {
	Original json.RawMessage   // the element exactly as the source sent it
	Events   []json.RawMessage // canonical events, each as POST /v1/events takes it
	Err      error             // why it could not be translated; Events empty then
}

// TranslateDCSA stands in for the DCSA translator: it splits the
// notification into items and translates none of them.
func TranslateDCSA(body []byte) ([]Item, error) {
	elems, err := splitPayload(body)
	if err != nil {
		return nil, err
	}
	items := make([]Item, len(elems))
	for i, e := range elems {
		items[i] = Item{Original: e, Err: errors.New("DCSA translation is not built into this stand-in")}
	}
	return items, nil
}

// VerifyDCSASignature reports whether header is "sha256=<hex HMAC-SHA256
// of body under secret>".
func VerifyDCSASignature(secret []byte, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(secret) == 0 {
		return false
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(sig, m.Sum(nil))
}

// Mapping stands in for a compiled mapping.
type Mapping struct{}

// CompileMapping stands in for the jq compiler: a program with unbalanced
// braces is a syntax error; every other one compiles.
func CompileMapping(program string, codes map[string]map[string]string) (*Mapping, error) {
	if strings.Count(program, "{") != strings.Count(program, "}") {
		return nil, errors.New("syntax error: unbalanced braces")
	}
	return &Mapping{}, nil
}

// Translate stands in for running the mapping: every payload is an item
// that could not be translated.
func (m *Mapping) Translate(ctx context.Context, body []byte) ([]Item, error) {
	elems, err := splitPayload(body)
	if err != nil {
		return nil, err
	}
	items := make([]Item, len(elems))
	for i, e := range elems {
		items[i] = Item{Original: e, Err: errors.New("mapping is not built into this stand-in")}
	}
	return items, nil
}

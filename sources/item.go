// Package sources turns what source systems send into canonical events,
// each as POST /v1/events takes it: the events of the DCSA Track & Trace
// standard (dcsa.go) and payloads mapped by a program of their own. It
// imports subscriptions only, for the catalog and its errors.
package sources

import "encoding/json"

// Item is one element of a source's payload (one DCSA event; one mapped
// payload) and the canonical events it became.
type Item struct {
	Original json.RawMessage   // the element exactly as the source sent it
	Events   []json.RawMessage // canonical events, each as POST /v1/events takes it
	Err      error             // why it could not be translated; Events empty then
}

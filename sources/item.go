package sources

import "encoding/json"

// Item is one element of a source's payload (one DCSA event; one mapped
// payload) and the canonical events it became.
type Item struct {
	Original json.RawMessage   // the element exactly as the source sent it
	Events   []json.RawMessage // canonical events, each as POST /v1/events takes it
	Err      error             // why it could not be translated; Events empty then
}

package subscriptions

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Storable text is text every store can keep and look up: valid UTF-8
// without the NUL character (U+0000). PostgreSQL refuses anything else,
// SQLite would keep it; inputs are checked at the edge so that both answer
// alike, with a 4xx naming the input rather than a failed query.

// textMessage is the message of every error for text that is not storable.
const textMessage = "must be valid UTF-8 text without the NUL character (U+0000)"

// StorableText reports whether s is storable text.
func StorableText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// CheckText returns a *FieldError naming field if s is not storable text.
func CheckText(field, s string) error {
	if StorableText(s) {
		return nil
	}
	return Fieldf(field, textMessage)
}

// nulEscape is how a JSON string spells NUL.
var nulEscape = []byte(`\u0000`)

// CheckJSONText returns nil if every string (key or value) of raw, one JSON
// value that decodes, is storable text. Otherwise it returns a *FieldError
// naming the path of the first string at fault, such as "data.note" or
// "parties[0].partner_id", or a Malformed *Error (invalid_json) if raw is
// not UTF-8 outside any string. It costs one pass over raw when the text
// is storable.
func CheckJSONText(raw []byte) error {
	if utf8.Valid(raw) && !bytes.Contains(raw, nulEscape) {
		return nil
	}
	// Rare: find the string at fault. A "\\u0000" (an escaped backslash)
	// leads here too, and is found to be storable.
	dec := json.NewDecoder(bytes.NewReader(raw))
	path, bad, err := textFault(dec, raw, "")
	switch {
	case bad:
		return Fieldf(path, textMessage)
	case err == nil && utf8.Valid(raw):
		return nil
	}
	return Errorf(Malformed, "invalid_json", "the request body is not valid UTF-8")
}

// textFault reads the next JSON value from dec, the decoder of raw, and
// reports the path, below path, of its first string that is not storable
// text.
func textFault(dec *json.Decoder, raw []byte, path string) (string, bool, error) {
	start := dec.InputOffset()
	tok, err := dec.Token()
	if err != nil {
		return "", false, err
	}
	switch tok {
	case json.Delim('{'):
		for dec.More() {
			start := dec.InputOffset()
			key, err := dec.Token()
			if err != nil {
				return "", false, err
			}
			member := joinPath(path, key.(string))
			if !storableToken(raw[start:dec.InputOffset()], key.(string)) {
				return member, true, nil
			}
			if p, bad, err := textFault(dec, raw, member); bad || err != nil {
				return p, bad, err
			}
		}
		_, err = dec.Token()
		return "", false, err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if p, bad, err := textFault(dec, raw, path+"["+strconv.Itoa(i)+"]"); bad || err != nil {
				return p, bad, err
			}
		}
		_, err = dec.Token()
		return "", false, err
	}
	if s, ok := tok.(string); ok && !storableToken(raw[start:dec.InputOffset()], s) {
		return path, true, nil
	}
	return "", false, nil
}

// storableToken reports whether a string token, spelled as span (with
// what separates it from the token before) and decoded as s, is storable
// text. The decoder replaces invalid UTF-8 in s, so span is checked for it.
func storableToken(span []byte, s string) bool {
	return utf8.Valid(span) && strings.IndexByte(s, 0) < 0
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

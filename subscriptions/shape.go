package subscriptions

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// A type's shape says where its data holds values that ingest writes in
// the form deliveries carry: decimals (a schema of format "decimal"),
// written as decimal strings, and places, which a source may give by
// their UN/LOCODE alone (a schema that takes an object with a "code" or a
// string), written as {"code": …}. The shape is read off the compiled
// schema, so the catalog's schemas say both what is accepted and where.
//
// The rewriter applies a shape to the data's bytes, not to decoded
// values: a number's text is never converted to a float64, and every
// byte it does not rewrite (key order, string escapes, other numbers)
// stays as the source sent it.

type shapeKind uint8

const (
	shapeFields  shapeKind = iota // an object or array with shapes below
	shapeDecimal                  // a decimal: a JSON number or a decimal string
	shapePlace                    // a place: an object, or its UN/LOCODE as a string
)

type shape struct {
	kind  shapeKind
	props map[string]*shape
	items *shape
}

// shapeOf returns the shape of the values sch validates, or nil when
// nothing in them is rewritten.
func shapeOf(sch *jsonschema.Schema) *shape {
	if sch == nil {
		return nil
	}
	if sch.Format != nil && sch.Format.Name == decimalFormat {
		return &shape{kind: shapeDecimal}
	}
	sh := &shape{}
	if isPlace(sch) {
		sh.kind = shapePlace
	}
	for name, p := range sch.Properties {
		if below := shapeOf(p); below != nil {
			if sh.props == nil {
				sh.props = map[string]*shape{}
			}
			sh.props[name] = below
		}
	}
	sh.items = shapeOf(sch.Items2020)
	if sh.kind == shapeFields && sh.props == nil && sh.items == nil {
		return nil
	}
	return sh
}

// isPlace reports whether sch is a place's: it takes an object with a
// "code" or a string.
func isPlace(sch *jsonschema.Schema) bool {
	if sch.Types == nil || sch.Properties["code"] == nil {
		return false
	}
	types := sch.Types.ToStrings()
	return slices.Contains(types, "object") && slices.Contains(types, "string")
}

// hasDecimal reports whether sh has a decimal anywhere.
func (sh *shape) hasDecimal() bool {
	if sh == nil {
		return false
	}
	if sh.kind == shapeDecimal || sh.items.hasDecimal() {
		return true
	}
	for _, p := range sh.props {
		if p.hasDecimal() {
			return true
		}
	}
	return false
}

// rewrite returns data, one compact JSON value, with the values sh marks
// written as deliveries carry them, and a *FieldError for each such value
// that is not a decimal or a UN/LOCODE, which it leaves as it is. Data
// with nothing to rewrite comes back as is, not copied. Should data not be
// compact JSON, it comes back as is, without errors.
func rewrite(data []byte, sh *shape) ([]byte, []*FieldError) {
	if sh == nil {
		return data, nil
	}
	var stack [8]pathStep
	r := rewriter{src: data, path: stack[:0]}
	r.value(0, sh)
	if r.bad {
		return data, nil
	}
	if r.out == nil {
		return data, r.errs
	}
	return append(r.out, data[r.done:]...), r.errs
}

type rewriter struct {
	src  []byte
	out  []byte // nil until the first rewrite
	done int    // src[:done] is in out
	// path leads to the value being read, for errors.
	path []pathStep
	errs []*FieldError
	// bad is set when src is not compact JSON.
	bad bool
}

// pathStep is an object key, src[start:end] as written (quotes and
// escapes included), or, when index >= 0, an array index.
type pathStep struct {
	start, end, index int
}

func (r *rewriter) at(i int) byte {
	if i >= len(r.src) {
		r.bad = true
		return 0
	}
	return r.src[i]
}

// value reads the value at i, whose shape is sh, and returns where it
// ends.
func (r *rewriter) value(i int, sh *shape) int {
	if sh == nil {
		return r.skip(i)
	}
	c := r.at(i)
	switch {
	case sh.kind == shapeDecimal:
		return r.decimal(i)
	case sh.kind == shapePlace && c == '"':
		return r.place(i)
	case c == '{':
		return r.object(i, sh)
	case c == '[':
		return r.array(i, sh)
	}
	return r.skip(i)
}

func (r *rewriter) object(i int, sh *shape) int {
	i++
	if r.at(i) == '}' {
		return i + 1
	}
	for !r.bad {
		if r.at(i) != '"' {
			r.bad = true
			break
		}
		end := r.str(i)
		if r.at(end) != ':' {
			r.bad = true
			break
		}
		var below *shape
		if sh.props != nil {
			if raw := r.src[i+1 : end-1]; slices.Contains(raw, '\\') {
				below = sh.props[r.text(i, end)]
			} else {
				below = sh.props[string(raw)] // a map index does not copy raw
			}
		}
		r.path = append(r.path, pathStep{start: i, end: end, index: -1})
		i = r.value(end+1, below)
		r.path = r.path[:len(r.path)-1]
		switch r.at(i) {
		case ',':
			i++
		case '}':
			return i + 1
		default:
			r.bad = true
		}
	}
	return len(r.src)
}

func (r *rewriter) array(i int, sh *shape) int {
	i++
	if r.at(i) == ']' {
		return i + 1
	}
	for n := 0; !r.bad; n++ {
		r.path = append(r.path, pathStep{index: n})
		i = r.value(i, sh.items)
		r.path = r.path[:len(r.path)-1]
		switch r.at(i) {
		case ',':
			i++
		case ']':
			return i + 1
		default:
			r.bad = true
		}
	}
	return len(r.src)
}

// decimal reads a decimal's value: a number is rewritten as a decimal
// string, a string is checked; a value of another type is left to the
// schema.
func (r *rewriter) decimal(i int) int {
	c := r.at(i)
	switch {
	case c == '"':
		end := r.str(i)
		s := r.text(i, end)
		if err := checkDecimalString(s); err != nil {
			r.fail(display(s) + " " + err.Error())
		}
		return end
	case c == '-' || c >= '0' && c <= '9':
		end := i
		for end < len(r.src) && strings.IndexByte("+-.eE0123456789", r.src[end]) >= 0 {
			end++
		}
		lit := string(r.src[i:end])
		d, err := decimalOfNumber(lit)
		if err != nil {
			r.fail(display(json.Number(lit)) + " " + err.Error())
			return end
		}
		r.replace(i, end, `"`, d, `"`)
		return end
	}
	return r.skip(i)
}

// place reads a place given as a string: a UN/LOCODE becomes {"code": …}.
func (r *rewriter) place(i int) int {
	end := r.str(i)
	if s := r.text(i, end); !IsLocode(s) {
		r.fail(display(s) + " is not " + locodeForm + `; give a place as its UN/LOCODE or as an object with its "code" and "name"`)
		return end
	}
	r.replace(i, end, `{"code":`, string(r.src[i:end]), `}`)
	return end
}

// replace puts parts in the place of src[start:end].
func (r *rewriter) replace(start, end int, parts ...string) {
	if r.out == nil {
		r.out = make([]byte, 0, len(r.src)+32)
	}
	r.out = append(r.out, r.src[r.done:start]...)
	for _, p := range parts {
		r.out = append(r.out, p...)
	}
	r.done = end
}

// skip returns where the value at i ends.
func (r *rewriter) skip(i int) int {
	switch r.at(i) {
	case '"':
		return r.str(i)
	case '{', '[':
		depth := 0
		for i < len(r.src) {
			switch r.src[i] {
			case '"':
				i = r.str(i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		r.bad = true
		return len(r.src)
	}
	for i < len(r.src) && strings.IndexByte(",}]", r.src[i]) < 0 {
		i++
	}
	return i
}

// str returns where the string that starts at i ends, after its closing
// quote.
func (r *rewriter) str(i int) int {
	for j := i + 1; j < len(r.src); j++ {
		switch r.src[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	r.bad = true
	return len(r.src)
}

// text returns the string src[start:end], unquoted.
func (r *rewriter) text(start, end int) string {
	if r.bad || end-start < 2 {
		return ""
	}
	if raw := r.src[start+1 : end-1]; !slices.Contains(raw, '\\') {
		return string(raw)
	}
	var s string
	if err := json.Unmarshal(r.src[start:end], &s); err != nil {
		r.bad = true
	}
	return s
}

// fail records msg as the error of the value being read.
func (r *rewriter) fail(msg string) {
	var b strings.Builder
	b.WriteString("data")
	for _, p := range r.path {
		if p.index >= 0 {
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		} else {
			b.WriteString("." + r.text(p.start, p.end))
		}
	}
	r.errs = append(r.errs, &FieldError{Field: b.String(), Message: msg})
}

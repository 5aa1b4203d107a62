package sources

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/itchyny/gojq"

	"github.com/shiphook/shiphook/subscriptions"
)

// A mapped source's mapping is a jq program (gojq) that turns one payload
// of the source's own JSON into zero or more canonical events, with code
// tables it can look up: $codes.status["RCV"], or "RCV" | code("status"),
// which fails naming the code when the table has no entry for it. See
// docs/mapped-sources.md.

const (
	// MaxMappingSize is the largest mapping program, in bytes.
	MaxMappingSize = 64 << 10
	// MaxCodes is the most entries the code tables of one mapping hold,
	// counted over every table.
	MaxCodes = 10000
)

// Mapping is a compiled mapping: a jq program and its code tables. It is
// safe for concurrent use.
type Mapping struct {
	code   *gojq.Code
	tables map[string]map[string]string
	// vars is $codes as the program sees it.
	vars map[string]any
}

// refused are the names a mapping may not use, with why. Reading the
// environment would show the server's settings (its database URL among
// them) to whoever writes a mapping; input and inputs would read past the
// one payload a run is given.
var refused = map[string]string{
	"env":    "env reads the server's environment, which a mapping may not see",
	"$ENV":   "$ENV reads the server's environment, which a mapping may not see",
	"input":  "input reads past the payload; a mapping sees one payload, as .",
	"inputs": "inputs reads past the payload; a mapping sees one payload, as .",
}

// CompileMapping checks and compiles program, a jq program, with the code
// tables codes (table name → source code → value), which the program sees
// as $codes and looks up with code("table"). The program is at most
// MaxMappingSize bytes; the tables hold at most MaxCodes entries in all;
// program, table names, codes and values are storable text. The program
// may not use env, $ENV, input, inputs, or modules (import, include), and
// every code("name") with a literal name must name a table of codes.
//
// Errors are a *subscriptions.Error of kind Malformed, code
// invalid_mapping, field "program" or "codes" (a syntax error's message
// names its line and column), or a *subscriptions.FieldError naming the
// text that is not storable.
func CompileMapping(program string, codes map[string]map[string]string) (*Mapping, error) {
	if err := checkProgramText(program); err != nil {
		return nil, err
	}
	if err := checkCodes(codes); err != nil {
		return nil, err
	}
	q, err := gojq.Parse(program)
	if err != nil {
		return nil, invalidMapping("program", "%s", parseMessage(program, err))
	}
	if err := checkQuery(q, codes); err != nil {
		return nil, err
	}
	m := &Mapping{tables: codes, vars: map[string]any{}}
	for name, table := range codes {
		t := make(map[string]any, len(table))
		for k, v := range table {
			t[k] = v
		}
		m.vars[name] = t
	}
	m.code, err = gojq.Compile(q,
		gojq.WithVariables([]string{"$codes"}),
		gojq.WithFunction("code", 1, 1, m.lookup))
	if err != nil {
		return nil, invalidMapping("program", "the mapping does not compile: %v", err)
	}
	return m, nil
}

func invalidMapping(field, format string, args ...any) *subscriptions.Error {
	e := subscriptions.Errorf(subscriptions.Malformed, "invalid_mapping", format, args...)
	e.Field = field
	return e
}

func checkProgramText(program string) error {
	if strings.TrimSpace(program) == "" {
		return invalidMapping("program", "is required: a jq program that turns one payload into canonical events, such as {type: ($codes.status[.status]), ...}")
	}
	if len(program) > MaxMappingSize {
		return invalidMapping("program", "is %d bytes; a mapping is at most %d KiB", len(program), MaxMappingSize>>10)
	}
	return subscriptions.CheckText("program", program)
}

// checkCodes checks the size of the code tables and that every name, code
// and value is storable text. Errors name the table and code at fault, in
// a stable order.
func checkCodes(codes map[string]map[string]string) error {
	n := 0
	for _, table := range codes {
		n += len(table)
	}
	if n > MaxCodes {
		return invalidMapping("codes", "the code tables hold %d entries; at most %d are allowed in all", n, MaxCodes)
	}
	for _, name := range sortedKeys(codes) {
		field := "codes." + name
		if name == "" {
			return invalidMapping("codes", "a code table needs a name")
		}
		if err := subscriptions.CheckText(field, name); err != nil {
			return err
		}
		for _, k := range sortedKeys(codes[name]) {
			if !subscriptions.StorableText(k) {
				return subscriptions.Fieldf(field, "has a code that is not storable text: codes must be valid UTF-8 text without the NUL character (U+0000)")
			}
			if err := subscriptions.CheckText(fmt.Sprintf("%s[%q]", field, k), codes[name][k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseMessage says where and why program does not parse, as line and
// column (both from 1; the column counts characters) of the token at
// fault.
func parseMessage(program string, err error) string {
	var pe *gojq.ParseError
	if !errors.As(err, &pe) {
		return "the mapping does not parse: " + err.Error()
	}
	// Offset is where reading stopped, after the token at fault.
	at := min(max(pe.Offset, 0), len(program))
	if pe.Token != "" && strings.HasSuffix(program[:at], pe.Token) {
		at -= len(pe.Token)
	}
	line, col := position(program, at)
	return fmt.Sprintf("the mapping does not parse at line %d, column %d: %v", line, col, err)
}

// position returns the line and column, from 1, of byte offset at of s.
func position(s string, at int) (line, col int) {
	before := s[:at]
	line = strings.Count(before, "\n") + 1
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCountInString(before[lineStart:]) + 1
}

// checkQuery refuses what a mapping may not do (refused, modules) and a
// code("name") whose literal name is no table of codes.
func checkQuery(q *gojq.Query, codes map[string]map[string]string) error {
	var err error
	walkFuncs(reflect.ValueOf(q), func(f *gojq.Func) bool {
		if why, ok := refused[f.Name]; ok {
			err = invalidMapping("program", "uses %s: %s", f.Name, why)
			return false
		}
		if f.Name == "code" && len(f.Args) == 1 {
			if name, ok := literalString(f.Args[0]); ok && codes[name] == nil {
				err = invalidMapping("program", "uses code(%q), but there is no code table %q; the tables are: %s", name, name, tableList(codes))
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	if len(q.Imports) > 0 {
		return invalidMapping("program", "uses import or include: a mapping is one program, without modules")
	}
	return nil
}

// walkFuncs calls visit with every function call (and variable) in the
// syntax tree v, until visit returns false. It goes by reflection so that
// no kind of node is missed.
func walkFuncs(v reflect.Value, visit func(*gojq.Func) bool) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return true
		}
		if f, ok := v.Interface().(*gojq.Func); ok && !visit(f) {
			return false
		}
		return walkFuncs(v.Elem(), visit)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !walkFuncs(v.Field(i), visit) {
				return false
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			if !walkFuncs(v.Index(i), visit) {
				return false
			}
		}
	}
	return true
}

// literalString returns the text of q if it is a string literal without
// interpolation.
func literalString(q *gojq.Query) (string, bool) {
	if q == nil || q.Term == nil || q.Left != nil || q.Term.Type != gojq.TermTypeString ||
		q.Term.Str == nil || q.Term.Str.Queries != nil || len(q.Term.SuffixList) > 0 {
		return "", false
	}
	return q.Term.Str.Str, true
}

func tableList(codes map[string]map[string]string) string {
	if len(codes) == 0 {
		return "none"
	}
	return strings.Join(sortedKeys(codes), ", ")
}

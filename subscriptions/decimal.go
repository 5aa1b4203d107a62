package subscriptions

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Money is a decimal, never a binary float. A decimal field of the catalog
// (an amount) is given as a JSON number or as a decimal string, and
// delivered as a decimal string with the digits exactly as given: its
// text goes from the request to the delivery without ever being a
// float64.
//
// A decimal string has the form of a JSON number without an exponent: an
// optional "-", the integer part (0, or digits without a leading 0), and
// an optional fraction of one or more digits after a ".", such as
// "2452.37", "-120" or "0.50". A JSON number is delivered as the string of
// its own text; one with an exponent (2.45237e3, which some encoders write
// for very large or small numbers) is written out exactly first
// ("2452.37"), its digits and their number kept. Either way a decimal has
// at most MaxDecimalDigits digits, written out.

// MaxDecimalDigits is the most digits a decimal may have, written out and
// counted on both sides of the point. 28 digits fit exactly in the decimal
// types receivers keep money in: .NET's System.Decimal (the narrowest, 28
// to 29 digits), IEEE 754 decimal128 (34), Java's BigDecimal and SQL's
// NUMERIC/DECIMAL(38).
const MaxDecimalDigits = 28

// decimalFormat is the JSON Schema "format" of a decimal field, as the
// OpenAPI format registry names a fixed-point decimal number.
const decimalFormat = "decimal"

// decimalHint is how every decimal error ends.
const decimalHint = `: give a JSON number or a string of digits with an optional leading "-" and an optional fraction after a ".", such as "2452.37" or "-120"`

// decimalOfNumber returns the JSON number lit, which must be a JSON
// number's text, written as a decimal string, or an error that completes
// a sentence about the value ("has 401 digits written out; …").
func decimalOfNumber(lit string) (string, error) {
	mant, exp, hasExp := strings.Cut(lit, "e")
	if !hasExp {
		mant, exp, hasExp = strings.Cut(lit, "E")
	}
	if !isPlainDecimal(mant) {
		return "", errors.New("is not a number" + decimalHint)
	}
	if !hasExp {
		if n := countDigits(mant); n > MaxDecimalDigits {
			return "", fmt.Errorf("has %d digits; at most %d are allowed", n, MaxDecimalDigits)
		}
		return mant, nil
	}
	e, err := strconv.Atoi(exp)
	if err != nil || e > 1<<20 || e < -1<<20 {
		if exp == "" || strings.Trim(exp, "+-0123456789") != "" {
			return "", errors.New("is not a number" + decimalHint)
		}
		return "", fmt.Errorf("has too many digits written out; at most %d are allowed", MaxDecimalDigits)
	}
	return expand(mant, e)
}

// expand returns the decimal mant (a plain decimal) times 10^e, written
// out exactly: the digits of mant, the point moved by e places, zeros
// added where the point moves past them, and leading zeros of the integer
// part dropped. 2.45237e3 is 2452.37, 1.50e1 is 15.0, 5e-3 is 0.005,
// 0.0e5 is 0.
func expand(mant string, e int) (string, error) {
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	intPart, frac, _ := strings.Cut(mant, ".")
	coef := intPart + frac
	point := len(intPart) + e // where the point falls in coef
	for len(coef) > 1 && coef[0] == '0' {
		coef, point = coef[1:], point-1
	}
	var n int // digits written out
	switch {
	case point <= 0:
		n = 1 - point + len(coef)
	case point >= len(coef):
		n = max(point, 1)
		if coef == "0" {
			n = 1
		}
	default:
		n = len(coef)
	}
	if n > MaxDecimalDigits {
		return "", fmt.Errorf("has %d digits written out; at most %d are allowed", n, MaxDecimalDigits)
	}
	var b strings.Builder
	b.Grow(n + 2)
	if neg {
		b.WriteByte('-')
	}
	switch {
	case point <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -point))
		b.WriteString(coef)
	case coef == "0":
		b.WriteString("0")
	case point >= len(coef):
		b.WriteString(coef)
		b.WriteString(strings.Repeat("0", point-len(coef)))
	default:
		b.WriteString(coef[:point])
		b.WriteByte('.')
		b.WriteString(coef[point:])
	}
	return b.String(), nil
}

// checkDecimalString returns nil if s is a decimal string of at most
// MaxDecimalDigits digits, or an error that completes a sentence about
// the value.
func checkDecimalString(s string) error {
	if !isPlainDecimal(s) {
		if mant, _, ok := strings.Cut(strings.ToLower(s), "e"); ok && isPlainDecimal(mant) && json.Valid([]byte(s)) {
			return errors.New(`is not a decimal string: write it without an exponent, such as "2400" for "2.4e3"`)
		}
		return errors.New("is not a decimal number" + decimalHint)
	}
	if n := countDigits(s); n > MaxDecimalDigits {
		return fmt.Errorf("has %d digits; at most %d are allowed", n, MaxDecimalDigits)
	}
	return nil
}

// isPlainDecimal reports whether s has the form of a JSON number without
// an exponent: -?(0|[1-9][0-9]*)(\.[0-9]+)?
func isPlainDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if intPart == "" || !allDigits(intPart) || len(intPart) > 1 && intPart[0] == '0' {
		return false
	}
	return !hasFrac || frac != "" && allDigits(frac)
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func countDigits(s string) int {
	n := 0
	for i := range len(s) {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// validateDecimal is the check of the "decimal" format for the schema
// validator: a number (json.Number, its text) or a string must be a
// decimal; other values are left to the schema's "type".
func validateDecimal(v any) error {
	switch x := v.(type) {
	case json.Number:
		_, err := decimalOfNumber(string(x))
		return err
	case string:
		return checkDecimalString(x)
	}
	return nil
}

package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shiphook/shiphook/signing"
)

// verdict is what checkDelivery found of a delivery.
type verdict struct {
	WebhookID string `json:"webhook_id"`
	Timestamp string `json:"webhook_timestamp"`
	// SentAt and Age are those of a timestamp that is unix seconds.
	SentAt       *time.Time       `json:"sent_at,omitempty"`
	Age          string           `json:"age,omitempty"`
	Signatures   []signatureCheck `json:"signatures"`
	Notification *signatureCheck  `json:"notification_signature,omitempty"`
	Verified     bool             `json:"verified"`
	// Error is failure's text, for the JSON output.
	Error   string       `json:"error,omitempty"`
	failure *verifyError // nil when verified
}

// signatureCheck is what became of one signature.
type signatureCheck struct {
	Signature string `json:"signature"`
	Scheme    string `json:"scheme"`
	// Result is "matches", "no match" or "not checked".
	Result string `json:"result"`
	// Secret is the position, from 1, of the key that matched.
	Secret int    `json:"secret,omitempty"`
	Why    string `json:"why,omitempty"`
}

// checkDelivery checks the delivery of headers h and body with keys (each
// a whsec_ secret or a whpk_ public key, already checked for their form),
// at now: its timestamp's age only with a tolerance above zero. Each
// signature entry is checked alone with signing.Verify, so that the
// verdict tells which one matched, with which key. The failure, if any,
// is the first header that fails.
func checkDelivery(h http.Header, body []byte, keys []string, tolerance time.Duration, now time.Time) verdict {
	v := verdict{WebhookID: h.Get("webhook-id"), Timestamp: h.Get("webhook-timestamp"), Signatures: []signatureCheck{}}
	sigs := h.Get("webhook-signature")
	switch {
	case v.WebhookID == "":
		v.fail("webhook-id", "missing: a delivery carries its message id in it")
	case v.Timestamp == "":
		v.fail("webhook-timestamp", "missing: a delivery carries the unix seconds it was signed at in it")
	case sigs == "":
		v.fail("webhook-signature", "missing: a delivery carries its signatures in it")
	}
	unix, err := strconv.ParseInt(v.Timestamp, 10, 64)
	if v.Timestamp != "" && err != nil {
		v.fail("webhook-timestamp", fmt.Sprintf("%q is not unix seconds", v.Timestamp))
	}
	if v.failure != nil {
		return v
	}
	sent := time.Unix(unix, 0).UTC()
	v.SentAt = &sent
	age := now.Sub(sent).Truncate(time.Second)
	v.Age = age.String()
	if tolerance > 0 && (age > tolerance || -age > tolerance) {
		when := age.String() + " ago"
		if age < 0 {
			when = (-age).String() + " ahead of this clock"
		}
		v.fail("webhook-timestamp", fmt.Sprintf("signed at %s, %s: further than --tolerance %s (a delivery sent again, or a clock off)", sent.Format(time.RFC3339), when, tolerance))
	}
	checkSignatures(&v, sigs, body, keys, sent)
	checkNotification(&v, h.Get("Notification-Signature"), body, keys)
	v.Verified = v.failure == nil
	return v
}

// fail records the first failure.
func (v *verdict) fail(header, reason string) {
	if v.failure == nil {
		v.failure = &verifyError{header: header, reason: reason}
		v.Error = v.failure.Error()
	}
}

// checkSignatures checks each entry of the webhook-signature header sigs
// with the keys of its scheme, as of sent, and fails the header if none
// matches.
func checkSignatures(v *verdict, sigs string, body []byte, keys []string, sent time.Time) {
	matched, checked := false, 0
	for entry := range strings.FieldsSeq(sigs) {
		scheme, _, _ := strings.Cut(entry, ",")
		c := signatureCheck{Signature: entry, Scheme: scheme, Result: "not checked"}
		single := http.Header{"Webhook-Id": {v.WebhookID}, "Webhook-Timestamp": {v.Timestamp}, "Webhook-Signature": {entry}}
		for i, k := range keys {
			if keyScheme(k) != scheme {
				continue
			}
			c.Result = "no match"
			if signing.Verify(body, single, sent, 0, k) == nil {
				c.Result, c.Secret = "matches", i+1
				break
			}
		}
		switch {
		case c.Result == "matches":
			matched = true
		case c.Result == "no match":
			checked++
		case scheme == string(signing.V1) || scheme == string(signing.V1a):
			c.Why = "no key of scheme " + scheme + " given"
		default:
			c.Why = "unknown scheme"
		}
		v.Signatures = append(v.Signatures, c)
	}
	switch {
	case matched:
	case checked == 0:
		v.fail("webhook-signature", "no signature of the scheme of the keys given (a v1 signature verifies with the endpoint's whsec_ secret, a v1a one with its whpk_ public key)")
	default:
		v.fail("webhook-signature", fmt.Sprintf("none of its %d signatures of the keys' scheme matches: the body, webhook-id or webhook-timestamp differs from what was signed, or the key is not the endpoint's (after a rotation, the new one)", checked))
	}
}

// keyScheme is the signature scheme a verifying key checks.
func keyScheme(key string) string {
	if strings.HasPrefix(key, "whpk_") {
		return string(signing.V1a)
	}
	return string(signing.V1)
}

// checkNotification checks a DCSA delivery's Notification-Signature
// header, sha256=<hex HMAC-SHA256 of the body> keyed with the bytes of a
// whsec_ secret, if the delivery has one.
func checkNotification(v *verdict, header string, body []byte, keys []string) {
	if header == "" {
		return
	}
	c := &signatureCheck{Signature: header, Scheme: "sha256", Result: "not checked", Why: "no whsec_ secret given"}
	v.Notification = c
	want, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		c.Result, c.Why = "no match", "not sha256=<hex>"
		v.fail("Notification-Signature", "not of the form sha256=<hex>")
		return
	}
	for i, k := range keys {
		key, err := signing.SecretKey(k)
		if err != nil {
			continue // a public key
		}
		mac := hmac.New(sha256.New, key)
		mac.Write(body)
		if hmac.Equal([]byte(strings.ToLower(want)), []byte(hex.EncodeToString(mac.Sum(nil)))) {
			c.Result, c.Secret, c.Why = "matches", i+1, ""
			return
		}
		c.Result, c.Why = "no match", ""
	}
	if c.Result == "no match" {
		v.fail("Notification-Signature", "does not match the body under the secrets given: the body differs from what was signed, or the secret is not the endpoint's")
	}
}

// report prints v, as JSON or a list of the headers checked, and returns
// its failure.
func (o *clientOptions) report(v verdict) error {
	if o.json() {
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := o.printRaw(raw); err != nil {
			return err
		}
	} else if err := writeVerdict(o.stdout, v); err != nil {
		return err
	}
	if v.failure != nil {
		return v.failure
	}
	return nil
}

// writeVerdict writes v for people: each header with what became of it.
func writeVerdict(w interface{ Write([]byte) (int, error) }, v verdict) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "webhook-id\t%s\n", orDash(v.WebhookID))
	ts := orDash(v.Timestamp)
	if v.SentAt != nil {
		ts += fmt.Sprintf(" (%s, age %s)", v.SentAt.Format(time.RFC3339), v.Age)
	}
	fmt.Fprintf(tw, "webhook-timestamp\t%s\n", ts)
	name := "webhook-signature"
	for _, c := range v.Signatures {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, abbreviate(c.Signature), checkText(c))
		name = ""
	}
	if v.Notification != nil {
		fmt.Fprintf(tw, "Notification-Signature\t%s\t%s\n", abbreviate(v.Notification.Signature), checkText(*v.Notification))
	}
	if v.Verified {
		fmt.Fprintln(tw, "verified")
	} else {
		fmt.Fprintf(tw, "NOT verified: %s\n", v.failure.header)
	}
	return tw.Flush()
}

func checkText(c signatureCheck) string {
	s := c.Result
	if c.Secret > 0 {
		s += fmt.Sprintf(" (secret %d)", c.Secret)
	}
	if c.Why != "" {
		s += ": " + c.Why
	}
	return s
}

// abbreviate shortens a signature for a table: its scheme and its first
// characters.
func abbreviate(sig string) string {
	if len(sig) <= 20 {
		return sig
	}
	return sig[:16] + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

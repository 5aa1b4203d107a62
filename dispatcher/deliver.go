package dispatcher

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/shiphook/shiphook/signing"
	"github.com/shiphook/shiphook/subscriptions"
)

const (
	// DefaultTimeout bounds one delivery attempt.
	DefaultTimeout = 15 * time.Second
	// maxResponseBody is how much of a response is kept in the log.
	maxResponseBody = 16 << 10
	// maxDrain is how much more of a response is read, and dropped, so that
	// the connection can be reused.
	maxDrain = 64 << 10
)

// Endpoints is what delivery needs to know of endpoints; subscriptions.Store
// is one.
type Endpoints interface {
	Endpoint(ctx context.Context, id string) (subscriptions.Endpoint, error)
	UpdateEndpoint(ctx context.Context, e subscriptions.Endpoint) error
}

// errBlocked is returned by the dialer for a destination that is not allowed.
var errBlocked = errors.New("destination address is not allowed")

// newHTTPClient returns the client deliveries are made with: connections
// are kept alive and reused per endpoint, every resolved address is checked
// against dest when dialling, and redirects are never followed.
func newHTTPClient(dest *subscriptions.Destinations) *http.Client {
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !dest.Allowed(ap.Addr()) {
				return fmt.Errorf("%s: %w", address, errBlocked)
			}
			return nil
		},
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2048,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// payload renders the body delivered for ev to a partner with role:
// {"type", "timestamp", "data": {"event_id", "shipment", "role", …data}}.
// The list of parties is never included.
func payload(ev Event, role string) ([]byte, error) {
	shipment, err := json.Marshal(ev.Shipment)
	if err != nil {
		return nil, fmt.Errorf("encode shipment: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(ev.Data) + len(shipment) + 160)
	b.WriteString(`{"type":`)
	writeJSONString(&b, ev.Type)
	b.WriteString(`,"timestamp":"`)
	b.WriteString(ev.OccurredAt.UTC().Format(time.RFC3339Nano))
	b.WriteString(`","data":{"event_id":`)
	writeJSONString(&b, ev.ID)
	b.WriteString(`,"shipment":`)
	b.Write(shipment)
	if role != "" {
		b.WriteString(`,"role":`)
		writeJSONString(&b, role)
	}
	// ev.Data is a compact JSON object: splice its members in.
	inner := bytes.TrimSpace(ev.Data)
	if len(inner) > 2 {
		b.WriteByte(',')
		b.Write(inner[1 : len(inner)-1])
	}
	b.WriteString("}}")
	return b.Bytes(), nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}

// roleOf returns the role partnerID plays in ev, or "".
func roleOf(ev Event, partnerID string) string {
	for _, p := range ev.Parties {
		if p.PartnerID == partnerID {
			return p.Role
		}
	}
	return ""
}

// handleDeliver makes one attempt to deliver a message. A task whose
// attempt was already made (or whose message is being delivered) is
// dropped; the message's row is the truth.
func (w *Worker) handleDeliver(ctx context.Context, t *asynq.Task) error {
	id, attempts, err := parseDeliverPayload(t.Payload())
	if err != nil {
		return err
	}
	now := time.Now()
	m, ok, err := w.cfg.Store.ClaimMessage(ctx, id, attempts, now.Add(w.cfg.Timeout+time.Minute))
	if err != nil {
		return fmt.Errorf("claim message %s: %w", id, err)
	}
	if !ok {
		return nil
	}
	err = w.deliver(ctx, m)
	if err != nil {
		// Nothing was recorded: put the message back so that the retried
		// task (or the reconciler) can claim it again.
		if rerr := w.cfg.Store.SetMessageStatus(context.WithoutCancel(ctx), m.ID, Outcome{Status: StatusPending, NextAttemptAt: &now}); rerr != nil {
			logWarn(ctx, "release message", "message_id", m.ID, "err", rerr)
		}
	}
	return err
}

// deliver signs and posts m, records the attempt and schedules the next
// one. It returns an error only when nothing was recorded.
func (w *Worker) deliver(ctx context.Context, m Message) error {
	ep, err := w.cfg.Endpoints.Endpoint(ctx, m.EndpointID)
	if errors.Is(err, subscriptions.ErrNotFound) || (err == nil && ep.Disabled) {
		// Kept, not dropped: re-enabling the endpoint resumes it.
		return w.cfg.Store.SetMessageStatus(ctx, m.ID, Outcome{Status: StatusDisabled})
	}
	if err != nil {
		return fmt.Errorf("load endpoint %s: %w", m.EndpointID, err)
	}
	ev, err := w.cfg.Store.Event(ctx, m.EventID)
	if err != nil {
		return fmt.Errorf("load event %s: %w", m.EventID, err)
	}
	body, err := payload(ev, roleOf(ev, m.PartnerID))
	if err != nil {
		return err
	}
	a, resp, err := w.post(ctx, ep, m, body)
	if err != nil {
		return err
	}
	o := w.outcome(&a, resp)
	if err := w.cfg.Store.RecordAttempt(context.WithoutCancel(ctx), a, o); err != nil {
		return fmt.Errorf("record attempt %d of %s: %w", a.Number, m.ID, err)
	}
	if a.StatusCode == http.StatusGone {
		w.disableGone(ctx, ep)
	}
	if o.Status == StatusPending {
		if err := w.cfg.Queue.EnqueueDelivery(ctx, m.ID, a.Number, *o.NextAttemptAt); err != nil {
			logWarn(ctx, "schedule next attempt; the reconciler will", "message_id", m.ID, "err", err)
		}
	}
	return nil
}

// post makes the HTTP request. It returns an error only when the attempt
// did not really happen (the worker is shutting down).
func (w *Worker) post(ctx context.Context, ep subscriptions.Endpoint, m Message, body []byte) (Attempt, *http.Response, error) {
	start := time.Now()
	a := Attempt{ID: subscriptions.NewID("att"), MessageID: m.ID, EndpointID: ep.ID, PartnerID: m.PartnerID, Number: m.Attempts + 1, Trigger: "scheduled", URL: ep.URL, StartedAt: start.UTC()}
	sig, err := signing.Sign(m.ID, start, body, ep.ActiveSecrets(start)...)
	if err != nil {
		return a, nil, fmt.Errorf("sign message %s: %w", m.ID, err)
	}
	rctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		a.ErrorClass, a.Error = ErrorConnect, "bad endpoint URL: "+err.Error()
		return a, nil, nil
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["User-Agent"] = []string{w.cfg.UserAgent}
	req.Header["webhook-id"] = []string{m.ID}
	req.Header["webhook-timestamp"] = []string{strconv.FormatInt(start.Unix(), 10)}
	req.Header["webhook-signature"] = []string{sig}
	resp, err := w.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return a, nil, fmt.Errorf("attempt to deliver %s interrupted: %w", m.ID, ctx.Err())
		}
		a.DurationMS = time.Since(start).Milliseconds()
		a.ErrorClass, a.Error = classify(err), err.Error()
		return a, nil, nil
	}
	defer resp.Body.Close()
	excerpt, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err == nil {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	}
	a.DurationMS = time.Since(start).Milliseconds()
	a.StatusCode = resp.StatusCode
	a.ResponseBody = strings.ToValidUTF8(string(excerpt), "\uFFFD")
	a.ResponseHeaders = loggedHeaders(resp.Header)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.ErrorClass, a.Error = ErrorRedirect, "redirects are not followed; point the endpoint at "+resp.Header.Get("Location")
	default:
		a.ErrorClass, a.Error = ErrorHTTPStatus, resp.Status
	}
	if err != nil && a.ErrorClass == ErrorNone {
		a.ErrorClass, a.Error = classify(err), "reading the response: "+err.Error()
	}
	return a, resp, nil
}

// loggedHeaders returns the response headers kept in the log: all but cookies.
func loggedHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if k == "Set-Cookie" || k == "Set-Cookie2" {
			continue
		}
		out[k] = strings.Join(v, ", ")
	}
	return out
}

// outcome decides what the attempt a means for its message.
func (w *Worker) outcome(a *Attempt, resp *http.Response) Outcome {
	switch {
	case a.ErrorClass == ErrorNone:
		return Outcome{Status: StatusSucceeded}
	case a.StatusCode == http.StatusGone, a.ErrorClass == ErrorBlocked:
		return Outcome{Status: StatusFailed}
	}
	now := time.Now()
	d, ok := nextDelay(w.cfg.Schedule, a.Number, resp, now)
	if !ok {
		return Outcome{Status: StatusFailed}
	}
	next := now.Add(d).UTC()
	return Outcome{Status: StatusPending, NextAttemptAt: &next}
}

// disableGone disables an endpoint that answered 410 Gone.
func (w *Worker) disableGone(ctx context.Context, ep subscriptions.Endpoint) {
	ep.Disabled, ep.DisabledReason, ep.UpdatedAt = true, "gone", time.Now().UTC()
	if err := w.cfg.Endpoints.UpdateEndpoint(ctx, ep); err != nil {
		logWarn(ctx, "disable endpoint after 410", "endpoint_id", ep.ID, "err", err)
		return
	}
	w.cfg.Notifier.Changed(ctx, ep.PartnerID)
	logInfo(ctx, "endpoint answered 410 Gone and was disabled", "endpoint_id", ep.ID, "partner_id", ep.PartnerID)
}

// classify names the kind of transport error err is.
func classify(err error) ErrorClass {
	var (
		dnsErr   *net.DNSError
		certErr  *tls.CertificateVerificationError
		hostErr  x509.HostnameError
		authErr  x509.UnknownAuthorityError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		netErr   net.Error
	)
	switch {
	case errors.Is(err, errBlocked):
		return ErrorBlocked
	case errors.As(err, &dnsErr):
		return ErrorDNS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ErrorTimeout
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authErr), errors.As(err, &recErr), errors.As(err, &alertErr),
		strings.Contains(err.Error(), "tls: "):
		return ErrorTLS
	}
	return ErrorConnect
}

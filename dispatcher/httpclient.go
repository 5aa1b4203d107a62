package dispatcher

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/shiphook/shiphook/subscriptions"
)

const (
	// maxResponseBody is how much of a response is kept in the log.
	maxResponseBody = 16 << 10
	// maxDrain is how much more of a response is read, and dropped, so that
	// the connection can be reused.
	maxDrain = 64 << 10
)

// errBlocked is returned by the dialer for a destination that is not allowed.
var errBlocked = errors.New("destination address is not allowed")

// newHTTPClient returns the client deliveries are made with: connections
// are kept alive and reused per endpoint, TLS certificates are verified
// against the URL's host name, no proxy is used, and redirects are never
// followed.
//
// Every new connection resolves its host through dest (dest.Lookup, so
// dest's Resolver decides both when an endpoint is saved and when it is
// dialled) and is refused, before anything is dialled, when any address
// the host resolves to is not dest.Allowed: a name that answers with a mix
// of public and private addresses is refused as a whole. The address
// actually dialled is checked once more by the dialer's Control. A refused
// dial wraps errBlocked.
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
		Proxy: nil,
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			return dialAllowed(ctx, dialer, dest, network, address)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2048,
		MaxIdleConnsPerHost:   256,
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

// dialAllowed connects to address ("host:port") with dialer after
// resolving host through dest. It returns a *net.OpError: wrapping
// errBlocked if any of host's addresses is not allowed (nothing is dialled
// then), the lookup's error if host does not resolve, or the first dial
// error if no address answers. Addresses are tried in the order the
// resolver gave them, the dialer's timeout spread over them as net.Dialer
// does.
func dialAllowed(ctx context.Context, dialer *net.Dialer, dest *subscriptions.Destinations, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	addrs, err := dest.Lookup(ctx, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	for _, a := range addrs {
		if !dest.Allowed(a) {
			return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%s resolves to %s: %w", host, a, errBlocked)}
		}
	}
	deadline := time.Now().Add(dialer.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var first error
	for i, a := range addrs {
		// Leave the addresses still to try a fair share of the time, and
		// each at least 2 s when there is that much left.
		share := time.Until(deadline) / time.Duration(len(addrs)-i)
		if share < 2*time.Second {
			share = min(2*time.Second, time.Until(deadline))
		}
		actx, cancel := context.WithTimeout(ctx, share)
		conn, err := dialer.DialContext(actx, network, net.JoinHostPort(a.String(), port))
		cancel()
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil || time.Until(deadline) <= 0 {
			break
		}
	}
	return nil, first
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

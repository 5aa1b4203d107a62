package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

const (
	// maxURLLength bounds an endpoint URL.
	maxURLLength = 2048
	// lookupTimeout bounds the DNS lookup CheckURL makes.
	lookupTimeout = 5 * time.Second
)

// blockedPrefixes are the address ranges a webhook may not reach unless the
// operator allows them: they belong to the host, the private network, a
// cloud's metadata service, or are not meant to be reached on the internet.
//
// IPv4-mapped IPv6 addresses (::ffff:0:0/96) are not listed: Allowed
// unmaps them first, so they are judged exactly as the IPv4 address they
// are. The other IPv6 forms that carry an IPv4 address are listed and also
// handled by embeddedIPv4.
var blockedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",          // "this" network, unspecified
		"10.0.0.0/8",         // private
		"100.64.0.0/10",      // carrier-grade NAT
		"100.100.100.200/32", // Alibaba Cloud metadata (inside 100.64.0.0/10 too)
		"127.0.0.0/8",        // loopback
		"168.63.129.16/32",   // Azure platform endpoint (WireServer)
		"169.254.0.0/16",     // link-local
		"169.254.169.254/32", // cloud metadata (AWS, GCP, Azure, OCI, …)
		"172.16.0.0/12",      // private
		"192.0.0.0/24",       // IETF protocol assignments (OCI metadata is 192.0.0.192)
		"192.0.2.0/24",       // documentation
		"192.88.99.0/24",     // 6to4 relay anycast
		"192.168.0.0/16",     // private
		"198.18.0.0/15",      // benchmarking
		"198.51.100.0/24",    // documentation
		"203.0.113.0/24",     // documentation
		"224.0.0.0/4",        // multicast
		"240.0.0.0/4",        // reserved
		"255.255.255.255/32", // limited broadcast
		"::/96",              // unspecified, loopback, IPv4-compatible (deprecated)
		"::ffff:0:0:0/96",    // IPv4-translated
		"64:ff9b::/96",       // NAT64, well-known prefix
		"64:ff9b:1::/48",     // NAT64, local use
		"100::/64",           // discard
		"2001::/32",          // Teredo
		"2001:2::/48",        // benchmarking
		"2001:10::/28",       // ORCHID (deprecated)
		"2001:20::/28",       // ORCHIDv2
		"2001:db8::/32",      // documentation
		"2002::/16",          // 6to4
		"3fff::/20",          // documentation
		"5f00::/16",          // SRv6 segment identifiers
		"fc00::/7",           // unique local
		"fd00:ec2::254/128",  // AWS metadata over IPv6 (inside fc00::/7 too)
		"fe80::/10",          // link-local
		"fec0::/10",          // site-local (deprecated)
		"ff00::/8",           // multicast
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// The IPv6 forms whose IPv4 address embeddedIPv4 extracts.
var (
	translatedPrefix = netip.MustParsePrefix("::ffff:0:0:0/96")
	nat64Prefix      = netip.MustParsePrefix("64:ff9b::/96")
	sixToFourPrefix  = netip.MustParsePrefix("2002::/16")
	teredoPrefix     = netip.MustParsePrefix("2001::/32")
)

// localhostAddrs are what "localhost" and names under it stand for.
var localhostAddrs = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}

// Resolver looks up the addresses of a host name. *net.Resolver is one.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Destinations decides which addresses webhooks may be sent to: every
// public address, and of the blocked ranges only those the operator
// allowed. A nil *Destinations allows public addresses only.
type Destinations struct {
	// Resolver looks up endpoint host names, both when an endpoint is
	// saved (CheckURL) and when a delivery dials it (Lookup). Nil means
	// net.DefaultResolver.
	Resolver Resolver

	allow []netip.Prefix
}

// ParseDestinations reads SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS: empty or
// "false" allows no private address; "loopback" allows 127.0.0.0/8 and ::1;
// "true" or "all" allows every address; otherwise a comma-separated list of
// CIDRs (or single addresses) is allowed.
func ParseDestinations(s string) (*Destinations, error) {
	d := &Destinations{}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "0", "no":
		return d, nil
	case "true", "1", "yes", "all":
		d.allow = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
		return d, nil
	case "loopback":
		d.allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		return d, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			d.allow = append(d.allow, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS: %q is neither a CIDR nor an address (or use true, false, loopback)", part)
		}
		d.allow = append(d.allow, netip.PrefixFrom(a, a.BitLen()))
	}
	return d, nil
}

// Allowed reports whether a webhook may be sent to addr.
//
// A public address is allowed; an address in a blocked range only when
// the operator's allow-list covers it. An IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) is judged as the IPv4 address it is, and an IPv6 zone
// is ignored. An IPv6 address that leads to an IPv4 address through a
// translator or a tunnel — IPv4-translated (::ffff:0:a.b.c.d), NAT64
// (64:ff9b::a.b.c.d), 6to4 (2002:aabb:ccdd::) or Teredo (2001::/32) — is
// allowed only when the allow-list covers the IPv6 address itself and the
// IPv4 address it carries is allowed too: an IPv4 entry alone never opens
// these forms (the translator reaches that IPv4 address from elsewhere in
// the network, so "loopback" or 10.0.0.0/8 would not mean the same host),
// and allowing, say, 64:ff9b::/96 for a DNS64 network does not open the
// metadata service at 64:ff9b::a9fe:a9fe. Local-use NAT64 (64:ff9b:1::/48)
// places the IPv4 address where the network decides, so only the
// allow-list lets it through.
func (d *Destinations) Allowed(addr netip.Addr) bool {
	addr = addr.WithZone("").Unmap()
	if !addr.IsValid() {
		return false
	}
	if v4, ok := embeddedIPv4(addr); ok {
		return d.listed(addr) && d.Allowed(v4)
	}
	return d.listed(addr) || !blocked(addr)
}

// listed reports whether the operator's allow-list covers addr.
func (d *Destinations) listed(addr netip.Addr) bool {
	if d == nil {
		return false
	}
	for _, p := range d.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// embeddedIPv4 returns the IPv4 address that an IPv4-translated, NAT64
// (well-known prefix), 6to4 or Teredo address leads to: for Teredo, the
// client's public address, which is stored inverted.
func embeddedIPv4(addr netip.Addr) (netip.Addr, bool) {
	if !addr.Is6() {
		return netip.Addr{}, false
	}
	b := addr.As16()
	switch {
	case translatedPrefix.Contains(addr), nat64Prefix.Contains(addr):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFourPrefix.Contains(addr):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case teredoPrefix.Contains(addr):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

func blocked(addr netip.Addr) bool {
	if !addr.IsGlobalUnicast() || addr.IsPrivate() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Lookup returns the addresses host stands for: an IP address itself;
// 127.0.0.1 and ::1 for "localhost", "localhost." and any name under
// "localhost"; otherwise the Resolver's answer, with IPv4-mapped
// addresses unmapped. It does not judge them: see Allowed. A name with no
// address is a *net.DNSError whose IsNotFound is set; other errors are the
// Resolver's.
func (d *Destinations) Lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if isLocalhost(host) {
		return slices.Clone(localhostAddrs), nil
	}
	var r Resolver = net.DefaultResolver
	if d != nil && d.Resolver != nil {
		r = d.Resolver
	}
	ips, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip.IP); ok {
			out = append(out, a.Unmap().WithZone(ip.Zone))
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

// isLocalhost reports whether host is a loopback name (RFC 6761).
func isLocalhost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// CheckURL validates an endpoint URL when it is saved: at most 2048
// characters, http or https, a host, no user name or password; an IP
// address must be written in the standard form and be Allowed; a host
// name must resolve (within 5 s), and every address it resolves to must be
// Allowed. "localhost" and names under it count as 127.0.0.1 and ::1.
// Deliveries check the addresses again when they dial: a name may
// resolve differently later.
//
// Returns a *FieldError for field, or ctx's error if ctx ends first.
func (d *Destinations) CheckURL(ctx context.Context, field, raw string) error {
	if len(raw) > maxURLLength {
		return Fieldf(field, "is longer than %d characters", maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return Fieldf(field, "must be an absolute http or https URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Fieldf(field, "scheme %q is not allowed; use http or https", u.Scheme)
	}
	if u.User != nil {
		return Fieldf(field, "must not contain a user name or password; use the endpoint's secret to authenticate deliveries")
	}
	host := u.Hostname()
	if host == "" {
		return Fieldf(field, "has no host")
	}
	const allowHint = "an operator may allow it with SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS"
	if a, err := netip.ParseAddr(host); err == nil {
		if d.Allowed(a) {
			return nil
		}
		if a.Is4In6() {
			return Fieldf(field, "points at %s (%s), a private or reserved address; %s", host, a.Unmap(), allowHint)
		}
		return Fieldf(field, "points at %s, a private or reserved address; %s", host, allowHint)
	}
	if endsInNumber(host) {
		return Fieldf(field, "host %q is not an IPv4 address in the standard form (decimal, octal, hexadecimal and shortened forms are refused); write it as four decimal numbers, such as 198.51.100.7", host)
	}
	if isLocalhost(host) {
		for _, a := range localhostAddrs {
			if !d.Allowed(a) {
				return Fieldf(field, "host %q is a loopback name; an operator may allow loopback with SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS=loopback", host)
			}
		}
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := d.Lookup(lctx, host)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("resolve %s: %w", host, ctx.Err())
		}
		return Fieldf(field, "host %q does not resolve (%s); use a name with a public DNS record", host, lookupReason(err))
	}
	for _, a := range addrs {
		if !d.Allowed(a) {
			return Fieldf(field, "host %q resolves to %s, a private or reserved address; %s", host, a, allowHint)
		}
	}
	return nil
}

// lookupReason describes why a lookup failed without the resolver's own
// address, which a *net.DNSError may carry.
func lookupReason(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the lookup timed out"
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return "the lookup timed out"
		}
		return dnsErr.Err
	}
	return "the lookup failed"
}

// endsInNumber reports whether host's last label is a number (decimal, or
// hexadecimal with 0x), which is how the WHATWG URL standard decides that
// a host is meant as an IPv4 address: browsers and many resolvers read
// "2130706433", "0177.0.0.1", "0x7f.1" and "127.1" all as 127.0.0.1.
func endsInNumber(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		return strings.Trim(last[2:], "0123456789abcdefABCDEF") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

package subscriptions

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// blockedPrefixes are the address ranges a webhook may not reach unless the
// operator allows them: they belong to the host, the private network, or a
// cloud's metadata service, not to a partner on the internet.
var blockedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",         // "this" network, unspecified
		"10.0.0.0/8",        // private
		"100.64.0.0/10",     // carrier-grade NAT
		"127.0.0.0/8",       // loopback
		"169.254.0.0/16",    // link-local, cloud metadata
		"172.16.0.0/12",     // private
		"192.0.0.0/24",      // IETF protocol assignments
		"192.0.2.0/24",      // documentation
		"192.88.99.0/24",    // 6to4 relay
		"192.168.0.0/16",    // private
		"198.18.0.0/15",     // benchmarking
		"198.51.100.0/24",   // documentation
		"203.0.113.0/24",    // documentation
		"224.0.0.0/4",       // multicast
		"240.0.0.0/4",       // reserved, broadcast
		"::/128",            // unspecified
		"::1/128",           // loopback
		"64:ff9b::/96",      // NAT64 (checked by its embedded IPv4 too)
		"64:ff9b:1::/48",    // local-use NAT64
		"100::/64",          // discard
		"2001::/32",         // Teredo
		"2001:db8::/32",     // documentation
		"2002::/16",         // 6to4
		"fc00::/7",          // unique local
		"fe80::/10",         // link-local
		"fec0::/10",         // site-local (deprecated)
		"ff00::/8",          // multicast
		"fd00:ec2::254/128", // AWS metadata over IPv6 (inside fc00::/7 too)
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Destinations decides which addresses webhooks may be sent to: every
// public address, and of the blocked ranges only those the operator allowed.
type Destinations struct {
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
func (d *Destinations) Allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range d.allow {
		if p.Contains(addr) {
			return true
		}
	}
	if blocked(addr) {
		return false
	}
	// NAT64 and friends carry an IPv4 address in their low bits.
	if addr.Is6() {
		b := addr.As16()
		if netip.MustParsePrefix("64:ff9b::/96").Contains(addr) {
			v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
			return d.Allowed(v4)
		}
	}
	return true
}

func blocked(addr netip.Addr) bool {
	if !addr.IsValid() || addr.IsUnspecified() || addr.IsLoopback() || addr.IsPrivate() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() || addr.IsMulticast() || addr.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// CheckURL validates an endpoint URL when it is saved: http or https, a
// host, no user name or password, and, when the host is an IP address or
// "localhost", an allowed one. Returns a *FieldError for field.
func (d *Destinations) CheckURL(field, raw string) error {
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
	if len(raw) > 2048 {
		return Fieldf(field, "is longer than 2048 characters")
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		host = "127.0.0.1"
	}
	if a, err := netip.ParseAddr(host); err == nil && !d.Allowed(a) {
		return Fieldf(field, "points at %s, a private or reserved address; an operator may allow it with SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS", u.Hostname())
	}
	if ip := net.ParseIP(host); ip == nil && strings.Trim(host, "0123456789.") == "" {
		return Fieldf(field, "host %q is not a valid address", host)
	}
	return nil
}

package subscriptions

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeResolver answers from a fixed table; a name not in it does not
// resolve. It records the names it was asked.
type fakeResolver struct {
	mu     sync.Mutex
	names  map[string][]string
	err    error
	lookup []string
}

func (r *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookup = append(r.lookup, host)
	if r.err != nil {
		return nil, r.err
	}
	addrs, ok := r.names[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, Server: "10.9.9.9:53", IsNotFound: true}
	}
	var out []net.IPAddr
	for _, a := range addrs {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out, nil
}

func mustDestinations(t *testing.T, allow string) *Destinations {
	t.Helper()
	d, err := ParseDestinations(allow)
	require.NoError(t, err)
	return d
}

func TestAllowedBlocksEveryReservedRange(t *testing.T) {
	d := mustDestinations(t, "")
	for _, a := range []string{
		"127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.254", "100.100.100.200", "168.63.129.16",
		"0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1",
		"192.0.0.192", "192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1", "198.19.255.255", "192.88.99.1",
		"::1", "::", "::7f00:1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "fd00:ec2::254", "fec0::1",
		"ff02::1", "ff0e::1", "2001:db8::1", "3fff::1", "100::1", "2001:2::1", "2001:20::1", "5f00::1",
		// IPv4-mapped.
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:0.0.0.0",
		// IPv4-translated.
		"::ffff:0:7f00:1", "::ffff:0:808:808",
		// NAT64, well-known and local-use prefixes.
		"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::808:808", "64:ff9b:1::808:808",
		// 6to4 and Teredo.
		"2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:808:808::1", "2001:0:4136:e378:8000:63bf:80ff:fffe", "2001::1",
	} {
		t.Run(a, func(t *testing.T) {
			require.False(t, d.Allowed(netip.MustParseAddr(a)))
		})
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "93.184.216.34", "::ffff:8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"} {
		t.Run(a, func(t *testing.T) {
			require.True(t, d.Allowed(netip.MustParseAddr(a)))
		})
	}
	require.False(t, d.Allowed(netip.Addr{}), "the zero Addr is never allowed")
	require.True(t, (*Destinations)(nil).Allowed(netip.MustParseAddr("8.8.8.8")), "nil allows public addresses")
	require.False(t, (*Destinations)(nil).Allowed(netip.MustParseAddr("127.0.0.1")))
}

func TestAllowedAllowList(t *testing.T) {
	for _, tc := range []struct {
		allow   string
		allowed []string
		refused []string
	}{
		{
			allow:   "loopback",
			allowed: []string{"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "8.8.8.8"},
			refused: []string{"10.0.0.1", "::", "169.254.169.254", "64:ff9b::7f00:1", "::ffff:0:7f00:1", "2002:7f00:1::"},
		},
		{
			allow:   "10.0.0.0/8",
			allowed: []string{"10.1.2.3", "::ffff:10.1.2.3", "1.1.1.1"},
			refused: []string{"172.16.0.1", "127.0.0.1", "192.168.1.1", "64:ff9b::a01:203", "::ffff:0:a01:203"},
		},
		{
			// Allowing NAT64 for a DNS64 network reaches public IPv4
			// addresses through it, not the private ones.
			allow:   "64:ff9b::/96",
			allowed: []string{"64:ff9b::808:808"},
			refused: []string{"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a01:203", "64:ff9b:1::808:808"},
		},
		{
			allow:   "64:ff9b::/96, 10.0.0.0/8",
			allowed: []string{"64:ff9b::a01:203", "10.0.0.1"},
			refused: []string{"64:ff9b::7f00:1", "::ffff:0:a01:203"},
		},
		{
			allow:   "192.168.1.10, fd00::/8",
			allowed: []string{"192.168.1.10", "fd00::1", "fd00:ec2::254"},
			refused: []string{"192.168.1.11", "fc00::1"},
		},
		{
			allow:   "true",
			allowed: []string{"127.0.0.1", "::1", "10.1.2.3", "169.254.169.254", "fd00:ec2::254", "64:ff9b::7f00:1", "::ffff:0:7f00:1", "2002:7f00:1::", "ff02::1", "255.255.255.255"},
		},
		{
			allow:   "false",
			refused: []string{"127.0.0.1", "::1"},
		},
	} {
		t.Run(tc.allow, func(t *testing.T) {
			d := mustDestinations(t, tc.allow)
			for _, a := range tc.allowed {
				require.True(t, d.Allowed(netip.MustParseAddr(a)), a)
			}
			for _, a := range tc.refused {
				require.False(t, d.Allowed(netip.MustParseAddr(a)), a)
			}
		})
	}
	_, err := ParseDestinations("10.0.0.0/8,intranet")
	require.ErrorContains(t, err, `"intranet"`)
}

func TestLookup(t *testing.T) {
	r := &fakeResolver{names: map[string][]string{
		"partner.example": {"93.184.216.34", "2606:4700:4700::1111"},
		"empty.example":   {},
	}}
	d := mustDestinations(t, "")
	d.Resolver = r
	ctx := context.Background()

	got, err := d.Lookup(ctx, "partner.example")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("2606:4700:4700::1111")}, got,
		"IPv4 answers come back as IPv4, not IPv4-mapped")

	got, err = d.Lookup(ctx, "::ffff:127.0.0.1")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("127.0.0.1")}, got)

	for _, name := range []string{"localhost", "LOCALHOST.", "api.localhost"} {
		got, err = d.Lookup(ctx, name)
		require.NoError(t, err)
		require.Equal(t, []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, got, name)
	}
	require.Equal(t, []string{"partner.example"}, r.lookup, "addresses and localhost names are not looked up")

	_, err = d.Lookup(ctx, "empty.example")
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr)
	require.True(t, dnsErr.IsNotFound)
}

func TestCheckURL(t *testing.T) {
	r := checkURLResolver()
	for _, tc := range checkURLCases() {
		t.Run(tc.allow+" "+tc.url[:min(len(tc.url), 60)], func(t *testing.T) {
			d := mustDestinations(t, tc.allow)
			d.Resolver = r
			err := d.CheckURL(context.Background(), "url", tc.url)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, "url", fe.Field)
			require.Contains(t, fe.Message, tc.want)
			if strings.Contains(fe.Message, "private or reserved") || strings.Contains(fe.Message, "loopback name") {
				require.Contains(t, fe.Message, "SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS")
			}
			require.NotContains(t, fe.Message, "10.9.9.9", "the resolver's own address is not shown")
		})
	}
}

// checkURLResolver is the DNS of TestCheckURL: a public name for IPv4 and
// one for IPv6, a private one, one with a public and a private address and
// one with an IPv4-mapped loopback address.
func checkURLResolver() *fakeResolver {
	return &fakeResolver{names: map[string][]string{
		"partner.example":  {"93.184.216.34"},
		"partner6.example": {"2606:4700:4700::1111"},
		"intranet.example": {"10.0.0.7"},
		"mixed.example":    {"93.184.216.34", "169.254.169.254"},
		"mapped.example":   {"::ffff:127.0.0.1"},
	}}
}

// checkURLCase is a URL checked with SHIPHOOK_ALLOW_PRIVATE_DESTINATIONS
// set to allow.
type checkURLCase struct {
	allow string
	url   string
	want  string // a part of the message; "" when the URL is accepted
}

// checkURLCases returns the URLs TestCheckURL checks and what each must get.
func checkURLCases() []checkURLCase {
	return []checkURLCase{
		{"", "https://partner.example/hooks", ""},
		{"", "http://partner.example:8080/hooks?x=1", ""},
		{"", "https://partner6.example/hooks", ""},
		{"", "https://8.8.8.8/hooks", ""},
		{"", "https://[2606:4700:4700::1111]/hooks", ""},
		{"", "ftp://partner.example/hooks", `scheme "ftp" is not allowed`},
		{"", "file:///etc/passwd", `scheme "file" is not allowed`},
		{"", "gopher://partner.example/", `scheme "gopher" is not allowed`},
		{"", "/relative/path", "absolute http or https URL"},
		{"", "partner.example/hooks", "absolute http or https URL"},
		{"", "https://user:pw@partner.example/hooks", "user name or password"},
		{"", "https://user@partner.example/hooks", "user name or password"},
		{"", "https:///hooks", "has no host"},
		{"", "https://partner.example/" + strings.Repeat("a", 2048), "longer than 2048"},
		{"", "http://127.0.0.1/", "points at 127.0.0.1"},
		{"", "http://169.254.169.254/latest/meta-data", "points at 169.254.169.254"},
		{"", "http://[::1]:8080/", "points at ::1"},
		{"", "http://[fe80::1%25eth0]/", "points at fe80::1%eth0"},
		{"", "http://[::ffff:7f00:1]/", "points at ::ffff:7f00:1 (127.0.0.1)"},
		{"", "http://[::ffff:127.0.0.1]/", "(127.0.0.1)"},
		{"", "http://[::ffff:169.254.169.254]/", "(169.254.169.254)"},
		{"", "http://[64:ff9b::a9fe:a9fe]/", "points at 64:ff9b::a9fe:a9fe"},
		{"", "http://[2002:7f00:1::]/", "points at 2002:7f00:1::"},
		{"", "http://2130706433/", `host "2130706433" is not an IPv4 address in the standard form`},
		{"", "http://0177.0.0.1/", `host "0177.0.0.1" is not an IPv4 address in the standard form`},
		{"", "http://0x7f.1/", `host "0x7f.1" is not an IPv4 address in the standard form`},
		{"", "http://0x7f000001/", "standard form"},
		{"", "http://127.1/", `host "127.1" is not an IPv4 address in the standard form`},
		{"", "http://127.0.0.1./", "standard form"},
		{"", "http://8.8.8.010/", "standard form"},
		{"", "http://localhost/", `host "localhost" is a loopback name`},
		{"", "http://localhost./", `host "localhost." is a loopback name`},
		{"", "http://LocalHost:8080/", "loopback name"},
		{"", "http://foo.localhost/", `host "foo.localhost" is a loopback name`},
		{"", "https://intranet.example/hooks", `host "intranet.example" resolves to 10.0.0.7`},
		{"", "https://mixed.example/hooks", `host "mixed.example" resolves to 169.254.169.254`},
		{"", "https://mapped.example/hooks", "resolves to 127.0.0.1"},
		{"", "https://nowhere.example/hooks", `host "nowhere.example" does not resolve (no such host)`},
		{"loopback", "http://127.0.0.1:9000/", ""},
		{"loopback", "http://[::1]:9000/", ""},
		{"loopback", "http://[::ffff:7f00:1]/", ""},
		{"loopback", "http://localhost:9000/", ""},
		{"loopback", "http://foo.localhost./", ""},
		{"loopback", "http://127.1/", "standard form"},
		{"loopback", "https://intranet.example/hooks", "resolves to 10.0.0.7"},
		{"127.0.0.0/8", "http://localhost/", "loopback name"},
		{"10.0.0.0/8", "https://intranet.example/hooks", ""},
		{"10.0.0.0/8", "http://10.1.2.3/", ""},
		{"10.0.0.0/8", "http://192.168.1.1/", "points at 192.168.1.1"},
		{"true", "http://[::ffff:169.254.169.254]/", ""},
		{"true", "https://mixed.example/hooks", ""},
		{"true", "https://nowhere.example/hooks", "does not resolve"},
	}
}

func TestCheckURLLookupFailures(t *testing.T) {
	d := mustDestinations(t, "")
	d.Resolver = &fakeResolver{err: context.DeadlineExceeded}
	err := d.CheckURL(context.Background(), "url", "https://slow.example/")
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, `host "slow.example" does not resolve (the lookup timed out); use a name with a public DNS record`, fe.Message)

	d.Resolver = &fakeResolver{err: errors.New("server misbehaving")}
	require.ErrorAs(t, d.CheckURL(context.Background(), "url", "https://odd.example/"), &fe)
	require.Contains(t, fe.Message, "does not resolve")

	// A lookup that outlives the request is the request's end, not bad input.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.Resolver = blockingResolver{}
	err = d.CheckURL(ctx, "url", "https://partner.example/")
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, errors.As(err, &fe))
}

// blockingResolver answers only when ctx ends.
type blockingResolver struct{}

func (blockingResolver) LookupIPAddr(ctx context.Context, _ string) ([]net.IPAddr, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// deadlineResolver records the deadline of the lookup it was asked.
type deadlineResolver struct{ deadline *time.Time }

func (r deadlineResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	*r.deadline, _ = ctx.Deadline()
	return []net.IPAddr{{IP: net.ParseIP("93.184.216.34")}}, nil
}

func TestCheckURLBoundsTheLookup(t *testing.T) {
	var deadline time.Time
	d := mustDestinations(t, "")
	d.Resolver = deadlineResolver{&deadline}
	start := time.Now()
	require.NoError(t, d.CheckURL(context.Background(), "url", "https://partner.example/"))
	require.False(t, deadline.IsZero(), "the lookup has a deadline")
	require.WithinDuration(t, start.Add(5*time.Second), deadline, time.Second)
}

func TestEndsInNumber(t *testing.T) {
	for host, want := range map[string]bool{
		"2130706433": true, "0177.0.0.1": true, "0x7f.1": true, "0X7F.0.0.1": true, "127.1": true, "1.2.3.4.": true, "0x": true,
		"partner.example": false, "1e100.net": false, "0x7f.example": false, "example.0xg": false, "": false, "123.example.": false,
	} {
		require.Equal(t, want, endsInNumber(host), host)
	}
}

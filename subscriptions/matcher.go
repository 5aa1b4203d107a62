package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Party is a partner named on a shipment, with its role there.
type Party struct {
	PartnerID string `json:"partner_id"`
	Role      string `json:"role"`
}

// Subject is what the matcher needs to know of an event.
type Subject struct {
	Type        string
	Mode        string
	Origin      string
	Destination string
	Carrier     string
	Parties     []Party
}

// Target is an endpoint an event goes to, with the role its partner plays on
// the shipment (empty for a partner with access all that is not a party).
type Target struct {
	EndpointID string
	PartnerID  string
	Role       string
	// Ordered: the endpoint orders its messages by shipment (Options.Ordered).
	Ordered bool
	// Pull is true for a pull endpoint, whose messages wait in its feed.
	Pull bool
}

// Index finds the endpoints an event goes to. It is indexed by partner and
// by event type, so the cost of a match grows with the endpoints of the
// event's parties (and of partners with access all), not with the number of
// endpoints that cannot match. Safe for concurrent use.
type Index struct {
	mu       sync.RWMutex
	partners map[string]*partnerEntry
	// everyone holds partners with access all.
	everyone map[string]*partnerEntry
}

type partnerEntry struct {
	access Access
	// exact maps an event type to the endpoints subscribed to it by name.
	exact map[string][]*indexedEndpoint
	// prefix maps "a.b." (from the pattern "a.b.*") to its endpoints.
	prefix map[string][]*indexedEndpoint
	// any holds endpoints subscribed to every type.
	any []*indexedEndpoint
	// n counts the entry's enabled endpoints.
	n int
}

type indexedEndpoint struct {
	id      string
	filter  Filter
	ordered bool
	pull    bool
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{partners: map[string]*partnerEntry{}, everyone: map[string]*partnerEntry{}}
}

// Set replaces everything the index knows of partner p with eps. Disabled
// endpoints are left out.
func (x *Index) Set(p Partner, eps []Endpoint) {
	e := &partnerEntry{access: p.Access, exact: map[string][]*indexedEndpoint{}, prefix: map[string][]*indexedEndpoint{}}
	for i := range eps {
		ep := &eps[i]
		if ep.Disabled {
			continue
		}
		e.n++
		ie := &indexedEndpoint{id: ep.ID, filter: ep.Filter, ordered: ep.Ordered(), pull: ep.Pull()}
		if len(ep.EventTypes) == 0 {
			e.any = append(e.any, ie)
			continue
		}
		for _, t := range ep.EventTypes {
			switch {
			case t == "*":
				e.any = append(e.any, ie)
			case strings.HasSuffix(t, ".*"):
				pre := strings.TrimSuffix(t, "*")
				e.prefix[pre] = append(e.prefix[pre], ie)
			default:
				e.exact[t] = append(e.exact[t], ie)
			}
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.everyone, p.ID)
	if e.n == 0 {
		delete(x.partners, p.ID)
		return
	}
	x.partners[p.ID] = e
	if p.Access == AccessAll {
		x.everyone[p.ID] = e
	}
}

// Remove forgets partner id and its endpoints.
func (x *Index) Remove(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.partners, id)
	delete(x.everyone, id)
}

// Len returns how many enabled endpoints the index holds.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := 0
	for _, e := range x.partners {
		n += e.n
	}
	return n
}

// Match returns the endpoints that s goes to: those of its parties' partners
// (and of partners with access all) whose event types and filter match.
// Each endpoint appears once; the first role listed for a partner is used.
func (x *Index) Match(s Subject) []Target {
	x.mu.RLock()
	defer x.mu.RUnlock()
	// shiphook's own operational events go only to the endpoints of the
	// partner they are about that subscribed to them by name or prefix.
	operational := strings.HasPrefix(s.Type, "shiphook.")
	var out []Target
	seenPartner := func(id string) bool {
		for _, t := range out {
			if t.PartnerID == id {
				return true
			}
		}
		return false
	}
	for _, p := range s.Parties {
		e, ok := x.partners[p.PartnerID]
		if !ok || seenPartner(p.PartnerID) {
			continue
		}
		out = e.match(out, s, p.PartnerID, p.Role, operational)
	}
	if operational {
		return out
	}
	for id, e := range x.everyone {
		if isParty(s.Parties, id) {
			continue
		}
		out = e.match(out, s, id, "", false)
	}
	return out
}

func isParty(ps []Party, id string) bool {
	for _, p := range ps {
		if p.PartnerID == id {
			return true
		}
	}
	return false
}

func (e *partnerEntry) match(out []Target, s Subject, partnerID, role string, operational bool) []Target {
	start := len(out)
	add := func(eps []*indexedEndpoint) {
		for _, ep := range eps {
			if !ep.filter.Matches(subjectField(s, role)) {
				continue
			}
			dup := false
			for _, t := range out[start:] {
				dup = dup || t.EndpointID == ep.id
			}
			if !dup {
				out = append(out, Target{EndpointID: ep.id, PartnerID: partnerID, Role: role, Ordered: ep.ordered, Pull: ep.pull})
			}
		}
	}
	if !operational {
		add(e.any)
	}
	add(e.exact[s.Type])
	if len(e.prefix) > 0 {
		for i := 0; i < len(s.Type); i++ {
			if s.Type[i] == '.' {
				add(e.prefix[s.Type[:i+1]])
			}
		}
	}
	return out
}

func subjectField(s Subject, role string) func(string) string {
	return func(key string) string {
		switch key {
		case "shipment.mode":
			return s.Mode
		case "shipment.origin":
			return s.Origin
		case "shipment.destination":
			return s.Destination
		case "shipment.carrier":
			return s.Carrier
		case "role":
			return role
		}
		return ""
	}
}

// Load fills the index with every partner's endpoints from st.
func (x *Index) Load(ctx context.Context, st Store) error {
	fresh := NewIndex()
	err := st.AllEndpoints(ctx, func(p Partner, eps []Endpoint) { fresh.Set(p, eps) })
	if err != nil {
		return fmt.Errorf("load endpoints: %w", err)
	}
	x.mu.Lock()
	x.partners, x.everyone = fresh.partners, fresh.everyone
	x.mu.Unlock()
	return nil
}

// Reload refreshes one partner from st, removing it if it is gone.
func (x *Index) Reload(ctx context.Context, st Store, partnerID string) error {
	p, eps, err := st.PartnerEndpoints(ctx, partnerID)
	if errors.Is(err, ErrNotFound) {
		x.Remove(partnerID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reload partner %s: %w", partnerID, err)
	}
	x.Set(p, eps)
	return nil
}

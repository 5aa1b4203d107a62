package api

import (
	"context"

	"github.com/shiphook/shiphook/dispatcher"
	"github.com/shiphook/shiphook/subscriptions"
)

// LabelStore reads what the API shows beside the ids of what it lists, so
// that a person reads an endpoint's URL and a partner's name where a list
// refers to them; the store is one.
type LabelStore interface {
	labelReader
	LastErrors(ctx context.Context, messageIDs []string) (map[string]string, error)
	PartnersHealth(ctx context.Context, ids []string) (map[string]subscriptions.PartnerHealth, error)
}

type labelReader interface {
	EndpointLabels(ctx context.Context, ids []string) (map[string]subscriptions.EndpointLabel, error)
	PartnerNames(ctx context.Context, ids []string) (map[string]string, error)
}

// Labels name an item's endpoint and partner for people, beside its
// endpoint_id and partner_id. A deleted endpoint or partner has empty
// labels and its *_deleted field true.
type Labels struct {
	// EndpointURL is empty for a pull endpoint, which has none.
	EndpointURL         string                     `json:"endpoint_url"`
	EndpointDescription string                     `json:"endpoint_description"`
	EndpointKind        subscriptions.EndpointKind `json:"endpoint_kind,omitempty"`
	EndpointDeleted     bool                       `json:"endpoint_deleted"`
	PartnerName         string                     `json:"partner_name"`
	PartnerDeleted      bool                       `json:"partner_deleted"`
}

// labelSet holds the labels of the endpoints and partners of a page.
type labelSet struct {
	endpoints map[string]subscriptions.EndpointLabel
	partners  map[string]string
}

// readLabels reads the labels of the endpoints and partners named, two
// reads by id in all.
func readLabels(ctx context.Context, st labelReader, endpointIDs, partnerIDs []string) (labelSet, error) {
	eps, err := st.EndpointLabels(ctx, endpointIDs)
	if err != nil {
		return labelSet{}, err
	}
	ps, err := st.PartnerNames(ctx, partnerIDs)
	if err != nil {
		return labelSet{}, err
	}
	return labelSet{endpoints: eps, partners: ps}, nil
}

// of returns the labels of an item of endpoint endpointID and partner
// partnerID.
func (ls labelSet) of(endpointID, partnerID string) Labels {
	var l Labels
	if ep, ok := ls.endpoints[endpointID]; ok {
		l.EndpointURL, l.EndpointDescription, l.EndpointKind = ep.URL, ep.Description, ep.Kind
	} else {
		l.EndpointDeleted = endpointID != ""
	}
	if name, ok := ls.partners[partnerID]; ok {
		l.PartnerName = name
	} else {
		l.PartnerDeleted = partnerID != ""
	}
	return l
}

// MessageView is a message as the API answers it: with the labels of its
// endpoint and partner and, when its last attempt failed, that attempt's
// error.
type MessageView struct {
	dispatcher.Message
	Labels
	// LastError is the error text of the last attempt, when it failed
	// with one.
	LastError string `json:"last_error,omitempty"`
}

type messageLabeler interface {
	labelReader
	LastErrors(ctx context.Context, messageIDs []string) (map[string]string, error)
}

// messageViews returns ms with their labels and last errors, read for all
// of them at once: three reads by id.
func messageViews(ctx context.Context, st messageLabeler, ms []dispatcher.Message) ([]MessageView, error) {
	var eps, ps, failed []string
	for _, m := range ms {
		eps, ps = append(eps, m.EndpointID), append(ps, m.PartnerID)
		if m.LastErrorClass != dispatcher.ErrorNone {
			failed = append(failed, m.ID)
		}
	}
	ls, err := readLabels(ctx, st, eps, ps)
	if err != nil {
		return nil, err
	}
	errs, err := st.LastErrors(ctx, failed)
	if err != nil {
		return nil, err
	}
	out := make([]MessageView, len(ms))
	for i, m := range ms {
		out[i] = MessageView{Message: m, Labels: ls.of(m.EndpointID, m.PartnerID), LastError: errs[m.ID]}
	}
	return out, nil
}

// AttemptView is an attempt in a list, with the labels of its endpoint
// and partner.
type AttemptView struct {
	dispatcher.Attempt
	Labels
}

// attemptViews returns as with their labels, two reads by id.
func attemptViews(ctx context.Context, st labelReader, as []dispatcher.Attempt) ([]AttemptView, error) {
	var eps, ps []string
	for _, a := range as {
		eps, ps = append(eps, a.EndpointID), append(ps, a.PartnerID)
	}
	ls, err := readLabels(ctx, st, eps, ps)
	if err != nil {
		return nil, err
	}
	out := make([]AttemptView, len(as))
	for i, a := range as {
		out[i] = AttemptView{Attempt: a, Labels: ls.of(a.EndpointID, a.PartnerID)}
	}
	return out, nil
}

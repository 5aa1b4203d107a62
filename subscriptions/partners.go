package subscriptions

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"
)

var partnerIDPattern = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// Notifier is told when a partner's endpoints change; *Sync is one.
type Notifier interface {
	Changed(ctx context.Context, partnerID string)
}

// PartnerInput is a partner as created or changed through the API; a field
// left out stays as it is (ID is only taken on creation).
type PartnerInput struct {
	ID     string  `json:"id"`
	Name   *string `json:"name"`
	Access *Access `json:"access"`
}

func (in PartnerInput) apply(p *Partner) error {
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if len(name) > 200 {
			return Fieldf("name", "must be at most 200 characters")
		}
		p.Name = name
	}
	if in.Access != nil {
		if *in.Access != AccessParty && *in.Access != AccessAll {
			return Fieldf("access", "must be %q or %q", AccessParty, AccessAll)
		}
		p.Access = *in.Access
	}
	return nil
}

// PartnerCreator stores new partners; Store is one.
type PartnerCreator interface {
	CreatePartner(ctx context.Context, p Partner) error
}

// CreatePartner checks in and stores the partner it describes: its id is
// generated when left out, its name defaults to its id and its access to
// AccessParty. Returns a *FieldError for bad input, or an *Error of kind
// Conflict (field "id") if the id is taken.
func CreatePartner(ctx context.Context, st PartnerCreator, in PartnerInput) (Partner, error) {
	now := time.Now().UTC()
	p := Partner{ID: in.ID, Access: AccessParty, CreatedAt: now, UpdatedAt: now}
	if p.ID == "" {
		p.ID = strings.ToLower(NewID("p"))
	} else if !partnerIDPattern.MatchString(p.ID) {
		return Partner{}, Fieldf("id", "must be 1 to 64 characters of a-z, 0-9, _ and -")
	}
	if err := in.apply(&p); err != nil {
		return Partner{}, err
	}
	if p.Name == "" {
		p.Name = p.ID
	}
	if err := st.CreatePartner(ctx, p); err != nil {
		if errors.Is(err, ErrConflict) {
			e := Errorf(Conflict, "conflict", "partner %s already exists", p.ID)
			e.Field = "id"
			return Partner{}, e
		}
		return Partner{}, err
	}
	return p, nil
}

// Update applies in to p, stamping UpdatedAt with now. Returns a
// *FieldError for bad input, or if in names another id.
func (in PartnerInput) Update(p *Partner, now time.Time) error {
	if in.ID != "" && in.ID != p.ID {
		return Fieldf("id", "a partner's id cannot change")
	}
	if err := in.apply(p); err != nil {
		return err
	}
	p.UpdatedAt = now
	return nil
}

// KeyInput asks for a new API key.
type KeyInput struct {
	Role      Role   `json:"role"`
	PartnerID string `json:"partner_id"`
	// SourceID binds an ingest key to one source.
	SourceID string `json:"source_id"`
	Name     string `json:"name"`
}

// CreatedKey is the answer to creating an API key: the only time the key
// itself is shown.
type CreatedKey struct {
	APIKey
	Key string `json:"key"`
}

// KeyCreator stores new API keys; Store is one.
type KeyCreator interface {
	Partner(ctx context.Context, id string) (Partner, error)
	CreateAPIKey(ctx context.Context, k APIKey) error
}

// CreateKey makes and stores a new API key as in asks: a partner key names
// an existing partner, the others none; an ingest key may name an
// existing source, to which it is then bound. Returns a *FieldError for
// bad input.
func CreateKey(ctx context.Context, st KeyCreator, in KeyInput) (CreatedKey, error) {
	if in.SourceID != "" && in.Role != RoleIngest {
		return CreatedKey{}, Fieldf("source_id", "only an ingest key is bound to a source")
	}
	switch in.Role {
	case RoleAdmin, RoleIngest:
		if in.PartnerID != "" {
			return CreatedKey{}, Fieldf("partner_id", "only a partner key is bound to a partner")
		}
	case RolePartner:
		if in.PartnerID == "" {
			return CreatedKey{}, Fieldf("partner_id", "a partner key needs the partner it belongs to")
		}
		if _, err := st.Partner(ctx, in.PartnerID); err != nil {
			if errors.Is(err, ErrNotFound) {
				err = Fieldf("partner_id", "partner %s does not exist", in.PartnerID)
			}
			return CreatedKey{}, err
		}
	default:
		return CreatedKey{}, Fieldf("role", "must be admin, ingest or partner")
	}
	key := NewKey()
	k := APIKey{ID: NewID("key"), Role: in.Role, PartnerID: in.PartnerID, SourceID: in.SourceID, Name: in.Name, Hash: HashKey(key), CreatedAt: time.Now().UTC()}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		if in.SourceID != "" && errors.Is(err, ErrNotFound) {
			err = Fieldf("source_id", "source %s does not exist", in.SourceID)
		}
		return CreatedKey{}, err
	}
	return CreatedKey{APIKey: k, Key: key}, nil
}

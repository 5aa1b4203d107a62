package sources

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/subscriptions"
)

func ptr[T any](v T) *T { return &v }

func TestNewSource(t *testing.T) {
	s, err := NewSource(Input{Name: ptr("  TMS "), Format: FormatShiphook})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(s.ID, "src_"), s.ID)
	require.Equal(t, "TMS", s.Name)
	require.Empty(t, s.Secret)

	d, err := NewSource(Input{Format: FormatDCSA})
	require.NoError(t, err)
	require.Len(t, d.Key(), 32, "a DCSA source is made a key of 32 random bytes")
	other, err := NewSource(Input{Format: FormatDCSA})
	require.NoError(t, err)
	require.NotEqual(t, d.Secret, other.Secret)

	given := base64.StdEncoding.EncodeToString([]byte("the carrier's own secret key"))
	d, err = NewSource(Input{Format: FormatDCSA, Secret: &given})
	require.NoError(t, err)
	require.Equal(t, []byte("the carrier's own secret key"), d.Key())
}

func TestNewSourceErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    Input
		field string
	}{
		{"no format", Input{}, "format"},
		{"unknown format", Input{Format: "edifact"}, "format"},
		{"mapped without mapping", Input{Format: FormatMapped}, "mapping"},
		{"empty program", Input{Format: FormatMapped, Mapping: &MappingSpec{Program: "  "}}, "mapping.program"},
		{"huge program", Input{Format: FormatMapped, Mapping: &MappingSpec{Program: strings.Repeat(".", 65<<10)}}, "mapping.program"},
		{"mapping elsewhere", Input{Format: FormatDCSA, Mapping: &MappingSpec{Program: "."}}, "mapping"},
		{"secret elsewhere", Input{Format: FormatShiphook, Secret: ptr("c2VjcmV0c2VjcmV0c2VjcmV0")}, "secret"},
		{"short secret", Input{Format: FormatDCSA, Secret: ptr("c2hvcnQ=")}, "secret"},
		{"long name", Input{Format: FormatShiphook, Name: ptr(strings.Repeat("n", 201))}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSource(tc.in)
			var fe *subscriptions.FieldError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.Equal(t, tc.field, fe.Field)
		})
	}
	_, err := NewSource(Input{Format: FormatMapped, Mapping: &MappingSpec{Program: "{id: .x"}})
	var de *subscriptions.Error
	require.True(t, errors.As(err, &de), "%v", err)
	require.Equal(t, subscriptions.Malformed, de.Kind)
	require.Equal(t, "invalid_mapping", de.Code)
	require.Equal(t, "mapping.program", de.Field)
}

func TestUpdate(t *testing.T) {
	s, err := NewSource(Input{Format: FormatMapped, Mapping: &MappingSpec{Program: "."}})
	require.NoError(t, err)
	now := time.Now().UTC().Add(time.Minute)
	require.NoError(t, Input{Name: ptr("WMS"), Mapping: &MappingSpec{Program: "{id: .id}"}}.Update(&s, now))
	require.Equal(t, "WMS", s.Name)
	require.Equal(t, "{id: .id}", s.Mapping.Program)
	require.Equal(t, now, s.UpdatedAt)

	var fe *subscriptions.FieldError
	require.ErrorAs(t, Input{Format: FormatShiphook}.Update(&s, now), &fe)
	require.Equal(t, "format", fe.Field)
	require.Error(t, Input{Mapping: &MappingSpec{Program: "{"}}.Update(&s, now))
	require.Equal(t, "{id: .id}", s.Mapping.Program, "a mapping that does not compile is not taken")
}

func TestShiphookTranslator(t *testing.T) {
	tr, err := Source{Format: FormatShiphook}.Translator()
	require.NoError(t, err)
	items, err := tr.Translate(t.Context(), []byte(` {"id": "a"} `))
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.JSONEq(t, `{"id": "a"}`, string(items[0].Original))
	require.Equal(t, items[0].Original, items[0].Events[0])

	items, err = tr.Translate(t.Context(), []byte(`[{"id": "a"}, {"id":  "b"}, 3]`))
	require.NoError(t, err)
	require.Len(t, items, 3)
	require.Equal(t, `{"id":  "b"}`, string(items[1].Original), "an element is kept exactly as sent")
	require.Equal(t, `3`, string(items[2].Events[0]), "what is not an event is left to ingest to refuse")

	many := "[" + strings.Repeat("{},", MaxItems) + "{}]"
	for body, kind := range map[string]any{"": "invalid_json", "{": "invalid_json", `"x"`: "invalid_json", "[1,": "invalid_json", "[]": "body", many: "body"} {
		_, err := tr.Translate(t.Context(), []byte(body))
		var fe *subscriptions.FieldError
		var de *subscriptions.Error
		switch {
		case errors.As(err, &fe):
			require.Equal(t, kind, fe.Field, body[:min(len(body), 10)])
		case errors.As(err, &de):
			require.Equal(t, kind, de.Code, body)
		default:
			t.Fatalf("%q: %v", body, err)
		}
	}
}

func TestTranslatorOfEachFormat(t *testing.T) {
	for _, f := range []Format{FormatShiphook, FormatDCSA} {
		_, err := Source{Format: f}.Translator()
		require.NoError(t, err, f)
	}
	_, err := Source{Format: FormatMapped, Mapping: &MappingSpec{Program: "."}}.Translator()
	require.NoError(t, err)
	_, err = Source{Format: FormatMapped}.Translator()
	require.Error(t, err)
	_, err = Source{Format: "edifact"}.Translator()
	require.Error(t, err)
}

package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shiphook/shiphook/docs"
	"github.com/shiphook/shiphook/internal/openapicheck"
	"github.com/shiphook/shiphook/web"
)

// undocumented are the routes of New that the OpenAPI document leaves
// out, each with the reason.
var undocumented = map[string]string{
	"GET " + web.Prefix:             "the console: HTML, CSS and JavaScript for a browser, not the API",
	"HEAD " + web.Prefix:            "the console",
	"GET " + web.Prefix + "/*path":  "the console's files",
	"HEAD " + web.Prefix + "/*path": "the console's files",
	"GET /":                         "a redirect to the console",
}

// ginParam matches a gin path parameter, :name or *name.
var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// specOperations returns the operations of the document, as "METHOD
// /path/{param}".
func specOperations(t *testing.T) []string {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(docs.OpenAPIYAML, &doc))
	var ops []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				ops = append(ops, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(ops)
	return ops
}

// TestOpenAPIMatchesRoutes checks the route table of New against the
// OpenAPI document both ways: every route is an operation of the
// document, and every operation of the document is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	engine, ok := New(Deps{}).(*gin.Engine)
	require.True(t, ok, "New returns a gin engine")
	routes := map[string]bool{}
	for _, r := range engine.Routes() {
		if _, skip := undocumented[r.Method+" "+r.Path]; skip {
			continue
		}
		routes[r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	ops := specOperations(t)
	var missing, extra []string
	for op := range routes {
		if !slices.Contains(ops, op) {
			missing = append(missing, op)
		}
	}
	paths := map[string]bool{}
	for _, op := range ops {
		if !routes[op] {
			extra = append(extra, op)
		}
		paths[strings.SplitN(op, " ", 2)[1]] = true
	}
	slices.Sort(missing)
	assert.Empty(t, missing, "routes of api/routes.go that docs/openapi.yaml does not describe (add each under paths):\n  %s", strings.Join(missing, "\n  "))
	assert.Empty(t, extra, "operations of docs/openapi.yaml that no route of api/routes.go serves:\n  %s", strings.Join(extra, "\n  "))
	t.Logf("%d routes (%d console routes left out) match %d operations on %d paths of docs/openapi.yaml",
		len(routes), len(undocumented), len(ops), len(paths))
}

// TestOpenAPIDocumentValid checks docs/openapi.yaml against the OpenAPI
// 3.1 schema.
func TestOpenAPIDocumentValid(t *testing.T) {
	c, err := openapicheck.Shared()
	require.NoError(t, err)
	require.Empty(t, c.Document(), "docs/openapi.yaml is not valid OpenAPI 3.1")
}

// TestOpenAPIServed checks that GET /v1/openapi.json answers the
// document as JSON, without a key.
func TestOpenAPIServed(t *testing.T) {
	rec := httptest.NewRecorder()
	New(Deps{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, OpenAPIPath, nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var served, source map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &served))
	require.NoError(t, yaml.Unmarshal(docs.OpenAPIYAML, &source))
	require.Equal(t, "3.1.0", served["openapi"])
	want, err := json.Marshal(source)
	require.NoError(t, err)
	got, err := json.Marshal(served)
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got), "the JSON served is the YAML document")
}

// Package docs holds shiphook's API reference: openapi.yaml, the OpenAPI
// 3.1 document of every route of the API, embedded so that the server
// serves it and the tests check the routes and their answers against it.
// The YAML file is the source of truth; JSON is made from it.
package docs

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/goccy/go-yaml"
)

// OpenAPIYAML is docs/openapi.yaml as it is in the repository.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// openAPIJSON and errOpenAPI are OpenAPIYAML converted to JSON, once.
var openAPIJSON, errOpenAPI = toJSON(OpenAPIYAML)

// OpenAPIJSON returns the OpenAPI document as JSON, its keys in the
// YAML's order. The conversion is made once, when the program starts; an
// error means the embedded file is not YAML, which the tests rule out.
func OpenAPIJSON() ([]byte, error) {
	return openAPIJSON, errOpenAPI
}

func toJSON(y []byte) ([]byte, error) {
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		return nil, fmt.Errorf("docs/openapi.yaml: %w", err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, j); err != nil {
		return nil, fmt.Errorf("docs/openapi.yaml as JSON: %w", err)
	}
	return b.Bytes(), nil
}

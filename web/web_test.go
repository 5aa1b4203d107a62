package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()

	get := func(t *testing.T, method, path string, header http.Header) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		require.NoError(t, err)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(body)
	}

	tests := []struct {
		name, path  string
		status      int
		contentType string
		contains    string
	}{
		{"the console's root", "/console", 200, "text/html; charset=utf-8", `<div id="app">`},
		{"the console's root with a slash", "/console/", 200, "text/html; charset=utf-8", `<div id="app">`},
		{"a page of the console", "/console/messages/msg_01h2x", 200, "text/html; charset=utf-8", `<div id="app">`},
		{"a page with a dot in it", "/console/shipments/SHP.0001", 200, "text/html; charset=utf-8", `<div id="app">`},
		{"a script", "/console/assets/app.js", 200, "text/javascript; charset=utf-8", "import"},
		{"a page script", "/console/assets/pages/messages.js", 200, "text/javascript; charset=utf-8", "export"},
		{"the stylesheet", "/console/assets/console.css", 200, "text/css; charset=utf-8", ":root"},
		{"the icon", "/console/assets/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"a missing asset", "/console/assets/nope.js", 404, "text/plain; charset=utf-8", "not found"},
		{"an asset path that climbs out", "/console/assets/../../web.go", 404, "text/plain; charset=utf-8", "not found"},
		{"outside the console", "/consoles", 404, "text/plain; charset=utf-8", "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, "GET", tt.path, nil)
			require.Equal(t, tt.status, resp.StatusCode, body)
			require.Equal(t, tt.contentType, resp.Header.Get("Content-Type"))
			require.Contains(t, body, tt.contains)
			require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")
			if tt.status == 200 {
				require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
				require.NotEmpty(t, resp.Header.Get("ETag"))
			}
		})
	}

	t.Run("an unchanged file is not sent again", func(t *testing.T) {
		resp, _ := get(t, "GET", "/console/assets/app.js", nil)
		again, body := get(t, "GET", "/console/assets/app.js", http.Header{"If-None-Match": {resp.Header.Get("ETag")}})
		require.Equal(t, http.StatusNotModified, again.StatusCode)
		require.Empty(t, body)
	})

	t.Run("HEAD answers without a body", func(t *testing.T) {
		resp, body := get(t, "HEAD", "/console/partners", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		require.Empty(t, body)
	})

	t.Run("other methods are refused", func(t *testing.T) {
		resp, _ := get(t, "POST", "/console/partners", nil)
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		require.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
	})
}

// TestAssetsAreLinked checks that every module the console imports and
// every file index.html names is embedded, so that a renamed file cannot
// break the console unnoticed.
func TestAssetsAreLinked(t *testing.T) {
	index, err := files.ReadFile("console/index.html")
	require.NoError(t, err)
	for _, ref := range []string{"/console/assets/app.js", "/console/assets/console.css", "/console/assets/favicon.svg"} {
		require.Contains(t, string(index), ref)
		_, err := files.ReadFile(strings.TrimPrefix(ref, "/"))
		require.NoError(t, err, ref)
	}
	imports := 0
	for _, dir := range []string{"console/assets", "console/assets/pages"} {
		entries, err := files.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".js") {
				continue
			}
			src, err := files.ReadFile(dir + "/" + e.Name())
			require.NoError(t, err)
			for _, line := range strings.Split(string(src), "\n") {
				_, from, ok := strings.Cut(line, "from '")
				if !ok || !strings.HasPrefix(line, "import") && !strings.HasPrefix(line, "} from") {
					continue
				}
				target, _, _ := strings.Cut(from, "'")
				resolved := resolve(dir, target)
				_, err := files.ReadFile(resolved)
				require.NoError(t, err, "%s/%s imports %s", dir, e.Name(), target)
				imports++
			}
		}
	}
	require.Greater(t, imports, 10, "the imports were found")
}

func resolve(dir, rel string) string {
	parts := strings.Split(dir, "/")
	for _, seg := range strings.Split(rel, "/") {
		switch seg {
		case ".":
		case "..":
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, seg)
		}
	}
	return strings.Join(parts, "/")
}

// Package web serves the shiphook console: a single-page application of
// plain HTML, CSS and JavaScript modules, embedded in the binary. The console
// is a client of the public /v1 API; it holds no state of its own.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the console is served under.
const Prefix = "/console"

//go:embed console
var files embed.FS

// contentTypes maps the extensions of the embedded files to their content
// types. The table is fixed here rather than read from the system, whose
// MIME database may differ from one machine to the next.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
}

// securityHeaders go on every answer. The console runs only its own
// scripts and styles and talks only to its own origin, and it is never
// framed.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"X-Frame-Options":         "DENY",
}

type file struct {
	body        []byte
	contentType string
	etag        string
}

// Handler returns the handler of every path under /console (GET and HEAD):
//
//   - /console/assets/… are the embedded files, with their content types,
//     or 404 when there is no such file;
//   - any other path under /console, and /console itself, is index.html,
//     so that the console's own routes (such as /console/messages/msg_…)
//     can be loaded and reloaded directly.
//
// Every answer carries an ETag and Cache-Control: no-cache, so a browser
// checks for a newer console on each load and gets 304 when nothing changed.
// Other methods get 405.
//
// Handler panics if the embedded files are unusable, which only a broken
// build can cause.
func Handler() http.Handler {
	byPath := map[string]file{}
	err := fs.WalkDir(files, "console", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		byPath[strings.TrimPrefix(name, "console")] = file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	index, ok := byPath["/index.html"]
	if err != nil || !ok {
		panic("web: the embedded console is missing index.html")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
		if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
			http.NotFound(w, r)
			return
		}
		f := index
		if strings.HasPrefix(rest, "/assets/") {
			if f, ok = byPath[path.Clean(rest)]; !ok {
				http.NotFound(w, r)
				return
			}
		}
		w.Header().Set("Content-Type", f.contentType)
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", f.etag)
		// ServeContent answers If-None-Match with 304 and handles HEAD
		// and ranges; the zero modification time leaves Last-Modified out.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	})
}

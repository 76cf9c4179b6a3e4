package web

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3 document of the HTTP API, kept in the repository
// as web/openapi.json and served at /v1/openapi.json.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(openAPI)
}

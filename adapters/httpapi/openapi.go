package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPIDocument describes this package's routes (OpenAPI 3.1). It is
// embedded rather than generated so that the document is what a reviewer
// reads and edits; openapi_test.go keeps it honest by validating every
// handler's real requests and responses against it, and by failing when
// a route exists on one side only.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves the document the running binary was built with.
func openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", openAPIDocument)
}

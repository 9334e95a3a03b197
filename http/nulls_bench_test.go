package http

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec/http/api"
)

// BenchmarkBindJSONNulls binds 1 MiB bodies full of nulls, the bodies an
// attacker would pick against pydantic's null rules (nullItems, and a last
// null dropping an Optional field): unknown keys given null, an Optional
// field given null again and again, a vector of nulls (a 422). They must
// cost about what the same body without nulls costs (before nullItems
// scanned the body, the first took 10 times as long).
func BenchmarkBindJSONNulls(b *testing.B) {
	gin.SetMode(gin.TestMode)
	body := func(head string, each func(i int) string, tail string) string {
		var sb strings.Builder
		sb.WriteString(head)
		for i := 0; sb.Len() < 1<<20; i++ {
			sb.WriteString(each(i))
		}
		sb.WriteString(tail)
		return sb.String()
	}
	key := func(v string) func(int) string { return func(i int) string { return fmt.Sprintf(`,"k%d":%s`, i, v) } }
	same := func(s string) func(int) string { return func(int) string { return s } }
	for _, c := range []struct {
		name, body string
		dst        func() any
	}{
		{"unknown keys null", body(`{"message":"hi"`, key("null"), `}`), func() any { return &api.RunBody{} }},
		{"unknown keys number", body(`{"message":"hi"`, key("1"), `}`), func() any { return &api.RunBody{} }},
		{"optional field null", body(`{"message":"hi"`, same(`,"session_id":null`), `}`), func() any { return &api.RunBody{} }},
		{"vector of nulls", body(`{"template_embedding":[null`, same(`,null`), `]}`), func() any { return &api.SessionCreateBody{} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := mwEngine(maxBody(bodyLimits{normal: 4 << 20}))
			r.POST("/b", func(g *gin.Context) {
				if bindJSON(g, c.dst()) {
					g.Status(http.StatusNoContent)
				}
			})
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				mwDo(r, http.MethodPost, "/b", c.body, nil)
			}
		})
	}
}

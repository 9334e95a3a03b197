package http

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/http/license"
	"github.com/semvec-go/semvec/persistence"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// ---- request decoding ----

// fjEngine serves the standard and the fast binding of RunBody and
// storeBody side by side; a bound value is answered 200 with fjKey of it.
var fjEngine = sync.OnceValue(func() *gin.Engine {
	r := mwEngine(maxBody(1 << 20))
	r.POST("/run/std", func(c *gin.Context) {
		var b RunBody
		if bindJSON(c, &b) {
			c.String(http.StatusOK, fjRunKey(&b))
		}
	})
	r.POST("/run/fast", func(c *gin.Context) {
		var b RunBody
		if testPools.bindRunBody(c, &b) {
			c.String(http.StatusOK, fjRunKey(&b))
		}
	})
	r.POST("/store/std", func(c *gin.Context) {
		var b storeBody
		if bindJSON(c, &b) {
			c.String(http.StatusOK, fjStoreKey(&b))
		}
	})
	r.POST("/store/fast", func(c *gin.Context) {
		var b storeBody
		if testPools.bindStoreBody(c, &b) {
			c.String(http.StatusOK, fjStoreKey(&b))
		}
	})
	return r
})

// fjRunKey renders every field of b, floats by their bits (so -0 and 0
// differ).
func fjRunKey(b *RunBody) string {
	th := "nil"
	if b.ShortCircuitThreshold != nil {
		th = fmt.Sprintf("%#x", math.Float64bits(*b.ShortCircuitThreshold))
	}
	return fmt.Sprintf("message=%q session_id=%q response=%q threshold=%s reset=%t",
		b.Message, b.SessionID, b.Response, th, b.ResetContext)
}

func fjStoreKey(b *storeBody) string {
	return fmt.Sprintf("session_id=%q response=%q", b.SessionID, b.Response)
}

// fjServe posts body to path on h; chunked hides the length.
func fjServe(h http.Handler, path string, body io.Reader, chunked bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, body)
	req.Header.Set("Content-Type", "application/json")
	if chunked {
		req.ContentLength = -1
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// sameResponse fails t unless a and b are the same response.
func sameResponse(t testing.TB, what string, a, b *httptest.ResponseRecorder) {
	t.Helper()
	if a.Code != b.Code || !reflect.DeepEqual(a.Header(), b.Header()) || !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
		t.Fatalf("%s: responses differ:\nstandard %d %v %s\nfast     %d %v %s", what,
			a.Code, a.Header(), a.Body.String(), b.Code, b.Header(), b.Body.String())
	}
}

// notAliased fails t when s points into buf's backing array.
func notAliased(t testing.TB, buf []byte, ss ...string) {
	t.Helper()
	if cap(buf) == 0 {
		return
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	hi := lo + uintptr(cap(buf))
	for _, s := range ss {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(s))); len(s) > 0 && p >= lo && p < hi {
			t.Fatalf("string %.20q aliases the body buffer", s)
		}
	}
}

// checkRunBody checks body against the standard path: same response either
// way, and when the fast decoder handles it, the standard path accepts it
// with the identical struct. It reports whether the fast decoder handled it.
func checkRunBody(t testing.TB, body []byte) bool {
	t.Helper()
	var fast RunBody
	var scratch []byte
	data := bytes.Clone(body)
	handled := decodeRunBody(data, &scratch, &fast)
	h := fjEngine()
	std := fjServe(h, "/run/std", bytes.NewReader(body), false)
	sameResponse(t, "run", std, fjServe(h, "/run/fast", bytes.NewReader(body), false))
	sameResponse(t, "run chunked", std, fjServe(h, "/run/fast", bytes.NewReader(body), true))
	if handled {
		if std.Code != http.StatusOK {
			t.Fatalf("fast path handled %q, standard path answers %d %s", body, std.Code, std.Body.String())
		}
		if got := fjRunKey(&fast); got != std.Body.String() {
			t.Fatalf("fast path decoded %q as\n%s\nstandard path as\n%s", body, got, std.Body.String())
		}
		notAliased(t, data, fast.Message, fast.SessionID, fast.Response)
		notAliased(t, scratch, fast.Message, fast.SessionID, fast.Response)
	}
	return handled
}

// checkStoreBody is checkRunBody for storeBody.
func checkStoreBody(t testing.TB, body []byte) bool {
	t.Helper()
	var fast storeBody
	var scratch []byte
	data := bytes.Clone(body)
	handled := decodeStoreBody(data, &scratch, &fast)
	h := fjEngine()
	std := fjServe(h, "/store/std", bytes.NewReader(body), false)
	sameResponse(t, "store", std, fjServe(h, "/store/fast", bytes.NewReader(body), false))
	if handled {
		if std.Code != http.StatusOK {
			t.Fatalf("fast path handled %q, standard path answers %d %s", body, std.Code, std.Body.String())
		}
		if got := fjStoreKey(&fast); got != std.Body.String() {
			t.Fatalf("fast path decoded %q as\n%s\nstandard path as\n%s", body, got, std.Body.String())
		}
		notAliased(t, data, fast.SessionID, fast.Response)
		notAliased(t, scratch, fast.SessionID, fast.Response)
	}
	return handled
}

// Seed bodies the fast path must handle: flat objects, every escape,
// unicode, nulls, numbers.
var fjRunHandled = []string{
	`{"message":"hi"}`,
	`{"message":"What is Kubernetes?","session_id":"abc-1","response":"prev","short_circuit_threshold":0.5,"reset_context":true}`,
	" \t\r\n{ \"message\" : \"x\" ,\n\t\"reset_context\" : false , \"session_id\":\"\" } \r\n",
	`{"reset_context":false,"short_circuit_threshold":-1,"response":"","message":"m"}`,
	`{"message":"a\"b\\c\/d\b\f\n\r\tz"}`,
	`{"message":"\u00e9\u4E2D\ud83d\ude00\u0000\u001f\u2028"}`,
	`{"message":"\ud800"}`,                                   // lone high surrogate: U+FFFD
	`{"message":"\udc00x"}`,                                  // lone low surrogate
	`{"message":"\ud800\u0041"}`,                             // high surrogate, then not a low one
	`{"message":"\ud83d\ud83d\ude00"}`,                       // high, then a valid pair
	`{"message":"\ud83d\\ude00"}`,                            // high, then an escaped backslash
	`{"message":"x\ud83d"}`,                                  // high surrogate at the end
	`{"message":"héllo 世界 😀 <>&` + "\u2028\u2029\x7f" + `"}`, // raw unicode
	`{"message":"é\n世"}`,
	`{"message":"   "}`, // blank: runOn answers that one
	`{"message":"x","session_id":null,"response":null,"short_circuit_threshold":null,"reset_context":null}`,
	`{"message":"x","short_circuit_threshold":1e-7}`,
	`{"message":"x","short_circuit_threshold":-0}`,
	`{"message":"x","short_circuit_threshold":-0.0}`,
	`{"message":"x","short_circuit_threshold":1.0}`,
	`{"message":"x","short_circuit_threshold":1}`,
	`{"message":"x","short_circuit_threshold":0}`,
	`{"message":"x","short_circuit_threshold":1E-2}`,
	`{"message":"x","short_circuit_threshold":-1e+0}`,
	`{"message":"x","short_circuit_threshold":0e5}`,
	`{"message":"x","short_circuit_threshold":1.0000000000000001}`,
	`{"message":"x","short_circuit_threshold":0.85}`,
	`{"message":"x","short_circuit_threshold":1e-400}`, // underflows to 0
	`{"message":"x","short_circuit_threshold":0.1234567890123456789012345678901234567890}`,
	`{"message":"` + strings.Repeat("a", maxMessageChars) + `"}`,
	`{"message":"` + strings.Repeat("é", maxMessageChars) + `"}`,
	`{"message":"` + strings.Repeat(`\u00e9`, maxMessageChars) + `"}`,
	`{"message":"m","session_id":"` + strings.Repeat("s", maxSessionIDChars) + `","response":"` + strings.Repeat("r", maxResponseChars) + `"}`,
}

// Seed bodies the fast path must leave to bindJSON.
var fjRunNotHandled = []string{
	``, `   `, `null`, ` null `, `{}`, `[]`, `"x"`, `1`, `[{"message":"x"}]`,
	`{"message":""}`, `{"message":null}`, `{"session_id":"s"}`,
	`{"message":"a","message":"b"}`,
	`{"message":"a","reset_context":true,"reset_context":false}`,
	`{"message":"a","short_circuit_threshold":0.5,"short_circuit_threshold":null}`,
	`{"Message":"x"}`, `{"MESSAGE":"x"}`, `{"message":"x","Session_ID":"s"}`,
	`{"message":"x","ſession_id":"s"}`, // matches session_id case-insensitively (ſ folds to s)
	`{"messag\u0065":"x"}`,
	`{"message":"x","extra":1}`, `{"message":"x","":1}`,
	`{"message":{"a":1}}`, `{"message":["x"]}`, `{"message":"x","reset_context":{"a":true}}`,
	`{"message":"x","short_circuit_threshold":[0.5]}`,
	`{"message":"x"}garbage`, `{"message":"x"} {}`, `{"message":"x"},`, `{"message":"x",}`,
	`{"message":"x"`, `{"message":"x`, `{"message":"x\`, `{"message":"\u12"}`, `{"message":"\x"}`,
	`{"message" "x"}`, `{"message":"x" "session_id":"s"}`, `{,"message":"x"}`, `{"message":}`,
	`{"message":1}`, `{"message":true}`, `{"message":"x","reset_context":"true"}`, `{"message":"x","reset_context":1}`,
	`{"message":"x","reset_context":tru}`, `{"message":"x","reset_context":truex}`, `{"message":"x","reset_context":nul}`,
	`{"message":"x","short_circuit_threshold":"0.5"}`, `{"message":"x","short_circuit_threshold":true}`,
	`{"message":"x","short_circuit_threshold":2}`, `{"message":"x","short_circuit_threshold":-1.5}`,
	`{"message":"x","short_circuit_threshold":1.0000000000000003}`,
	`{"message":"x","short_circuit_threshold":1e400}`, `{"message":"x","short_circuit_threshold":-1e400}`,
	`{"message":"x","short_circuit_threshold":01}`, `{"message":"x","short_circuit_threshold":1.}`,
	`{"message":"x","short_circuit_threshold":.5}`, `{"message":"x","short_circuit_threshold":+1}`,
	`{"message":"x","short_circuit_threshold":-}`, `{"message":"x","short_circuit_threshold":1e}`,
	`{"message":"x","short_circuit_threshold":NaN}`, `{"message":"x","short_circuit_threshold":0x1}`,
	"{\"message\":\"\xff\"}", "{\"message\":\"a\xc3\"}", "{\"message\":\"\xed\xa0\x80\"}", "{\"message\":\"ok\\n\xc3\"}",
	"{\"message\":\"a\nb\"}", "{\"message\":\"a\tb\"}", "{\"message\":\"a\x1fb\"}", "{\"message\":\"\x00\"}",
	"{\"message\":\"\\n\x1f\"}",
	"\xef\xbb\xbf{\"message\":\"x\"}", "{\"message\":\"x\"}\v", "\f{\"message\":\"x\"}",
	`{"message":"x","session_id":"s\u0000"}x`,
	`{"message":"` + strings.Repeat("a", maxMessageChars+1) + `"}`,
	`{"message":"` + strings.Repeat("é", maxMessageChars+1) + `"}`,
	`{"message":"` + strings.Repeat(`\u00e9`, maxMessageChars) + `x"}`,
	`{"message":"m","session_id":"` + strings.Repeat("s", maxSessionIDChars+1) + `"}`,
	`{"message":"m","response":"` + strings.Repeat("r", maxResponseChars+1) + `"}`,
}

var fjStoreHandled = []string{
	`{"session_id":"s","response":"r"}`,
	` { "response" : "use kubectl rollout \u003cstatus\u003e" , "session_id" : "abc" } `,
	`{"session_id":"s","response":"` + strings.Repeat("é", maxResponseChars) + `"}`,
}

var fjStoreNotHandled = []string{
	`{"session_id":"","response":"r"}`, `{"session_id":"s"}`, `{"response":"r"}`,
	`{"session_id":"s","response":null}`, `{"session_id":"s","response":"r","message":"m"}`,
	`{"session_id":"s","response":"r","session_id":"t"}`, `{"Session_id":"s","response":"r"}`,
	`{"session_id":"` + strings.Repeat("s", maxSessionIDChars+1) + `","response":"r"}`,
	`{"session_id":"s","response":"` + strings.Repeat("é", maxResponseChars+1) + `"}`,
}

func FuzzRunBodyFastPath(f *testing.F) {
	for _, seeds := range [][]string{fjRunHandled, fjRunNotHandled, fjStoreHandled, fjStoreNotHandled} {
		for _, s := range seeds {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkRunBody(t, body)
		checkStoreBody(t, body)
	})
}

func TestFastPathHandlesSeeds(t *testing.T) {
	for _, s := range fjRunHandled {
		if !checkRunBody(t, []byte(s)) {
			t.Errorf("run: not handled: %.80q", s)
		}
	}
	for _, s := range fjRunNotHandled {
		if checkRunBody(t, []byte(s)) {
			t.Errorf("run: handled: %.80q", s)
		}
	}
	for _, s := range fjStoreHandled {
		if !checkStoreBody(t, []byte(s)) {
			t.Errorf("store: not handled: %.80q", s)
		}
	}
	for _, s := range fjStoreNotHandled {
		if checkStoreBody(t, []byte(s)) {
			t.Errorf("store: handled: %.80q", s)
		}
	}
}

// TestFastPathHandlesMarshalled: what a client's JSON encoder writes for a
// valid request is handled on the fast path, compact or indented.
func TestFastPathHandlesMarshalled(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		b := RunBody{Message: fjRandString(rng, 40), ResetContext: rng.IntN(2) == 0}
		if b.Message == "" {
			b.Message = "m"
		}
		if rng.IntN(2) == 0 {
			b.SessionID = fjRandString(rng, 20)
		}
		if rng.IntN(2) == 0 {
			b.Response = fjRandString(rng, 60)
		}
		if rng.IntN(3) > 0 {
			v := fjRandFloat(rng)
			if math.IsNaN(v) || math.IsInf(v, 0) || v < -1 || v > 1 {
				v = rng.Float64()*2 - 1
			}
			b.ShortCircuitThreshold = &v
		}
		compact, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		indented, _ := json.MarshalIndent(b, " ", "\t")
		for _, body := range [][]byte{compact, indented} {
			if !checkRunBody(t, body) {
				t.Fatalf("case %d: not handled: %s", i, body)
			}
		}
		sb := storeBody{SessionID: "s" + fjRandString(rng, 10), Response: "r" + fjRandString(rng, 60)}
		body, _ := json.Marshal(sb)
		if !checkStoreBody(t, body) {
			t.Fatalf("case %d: store not handled: %s", i, body)
		}
	}
}

// TestFastPathLimitsMatchTags ties the fast decoder's rules to the binding
// tags: change a tag and this fails until the decoder follows.
func TestFastPathLimitsMatchTags(t *testing.T) {
	want := map[reflect.Type]map[string]string{
		reflect.TypeFor[RunBody](): {
			"message":                 fmt.Sprintf("required,max=%d", maxMessageChars),
			"session_id":              fmt.Sprintf("max=%d", maxSessionIDChars),
			"response":                fmt.Sprintf("max=%d", maxResponseChars),
			"short_circuit_threshold": "omitempty,gte=-1,lte=1",
			"reset_context":           "",
		},
		reflect.TypeFor[storeBody](): {
			"session_id": fmt.Sprintf("required,max=%d", maxSessionIDChars),
			"response":   fmt.Sprintf("required,max=%d", maxResponseChars),
		},
	}
	for typ, fields := range want {
		if typ.NumField() != len(fields) {
			t.Errorf("%v has %d fields, the fast decoder knows %d", typ, typ.NumField(), len(fields))
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := f.Tag.Get("json")
			tag, ok := fields[name]
			if !ok {
				t.Errorf("%v.%s: json name %q unknown to the fast decoder", typ, f.Name, name)
				continue
			}
			if got := f.Tag.Get("binding"); got != tag {
				t.Errorf("%v.%s: binding %q, the fast decoder applies %q", typ, f.Name, got, tag)
			}
		}
	}
}

// failingBody fails its first read after returning some bytes.
type failingBody struct {
	data []byte
	err  error
}

func (b *failingBody) Read(p []byte) (int, error) {
	if len(b.data) > 0 {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	return 0, b.err
}

func TestFastPathBodyErrors(t *testing.T) {
	r := mwEngine(maxBody(64))
	r.POST("/std", func(c *gin.Context) {
		var b RunBody
		if bindJSON(c, &b) {
			c.String(http.StatusOK, fjRunKey(&b))
		}
	})
	r.POST("/fast", func(c *gin.Context) {
		var b RunBody
		if testPools.bindRunBody(c, &b) {
			c.String(http.StatusOK, fjRunKey(&b))
		}
	})
	big := `{"message":"` + strings.Repeat("x", 100) + `"}`
	small := `{"message":"hi"}`
	for _, tc := range []struct {
		name    string
		body    string
		chunked bool
		code    int
	}{
		{"declared length over the limit", big, false, http.StatusRequestEntityTooLarge},
		{"chunked over the limit", big, true, http.StatusRequestEntityTooLarge},
		{"chunked under the limit", small, true, http.StatusOK},
		{"under the limit", small, false, http.StatusOK},
		{"exactly the limit", `{"message":"` + strings.Repeat("x", 64-14) + `"}`, true, http.StatusOK},
		{"one over the limit", `{"message":"` + strings.Repeat("x", 65-14) + `"}`, true, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			std := fjServe(r, "/std", strings.NewReader(tc.body), tc.chunked)
			fast := fjServe(r, "/fast", strings.NewReader(tc.body), tc.chunked)
			if std.Code != tc.code {
				t.Fatalf("standard path: %d %s", std.Code, std.Body.String())
			}
			sameResponse(t, tc.name, std, fast)
		})
	}
	// A read error that is not the size limit: 400, as before.
	for _, path := range []string{"/std", "/fast"} {
		w := fjServe(r, path, &failingBody{data: []byte(`{"message":`), err: errors.New("connection reset")}, true)
		if w.Code != http.StatusBadRequest || w.Body.String() != `{"detail":"Could not read request body"}` {
			t.Fatalf("%s: read error: %d %s", path, w.Code, w.Body.String())
		}
	}
	// No body at all.
	for _, path := range []string{"/run/std", "/run/fast"} {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Body = nil
		w := httptest.NewRecorder()
		fjEngine().ServeHTTP(w, req)
		if want := mwDetailJSON(t, mwItem("Field required", "missing", "body")); w.Code != 422 || w.Body.String() != want {
			t.Fatalf("%s: no body: %d %s", path, w.Code, w.Body.String())
		}
	}
}

// TestFastPathStringsSurvivePoolReuse: decoded strings keep their value when
// the pooled buffers are reused by later requests.
func TestFastPathStringsSurvivePoolReuse(t *testing.T) {
	var kept []RunBody
	var wants []string
	r := mwEngine(maxBody(1 << 20))
	r.POST("/run", func(c *gin.Context) {
		var b RunBody
		if testPools.bindRunBody(c, &b) {
			kept = append(kept, b)
		}
	})
	for i := range 50 {
		body := fmt.Sprintf(`{"message":"message number %d \u00e9","session_id":"s%d","response":"plain %d"}`, i, i, i)
		fjServe(r, "/run", strings.NewReader(body), i%2 == 0)
		wants = append(wants, fmt.Sprintf(`message=%q session_id="s%d" response="plain %d" threshold=nil reset=false`,
			fmt.Sprintf("message number %d é", i), i, i))
	}
	if len(kept) != len(wants) {
		t.Fatalf("bound %d of %d", len(kept), len(wants))
	}
	for i := range kept {
		if got := fjRunKey(&kept[i]); got != wants[i] {
			t.Fatalf("request %d: %s, want %s", i, got, wants[i])
		}
	}
}

// ---- response encoding ----

// fjRandString mixes ASCII, HTML characters, controls, multi-byte runes,
// U+2028/9, emoji and invalid UTF-8.
func fjRandString(rng *rand.Rand, maxLen int) string {
	pieces := []string{"a", "Z", "0", " ", "<", ">", "&", `"`, `\`, "/", "\n", "\r", "\t", "\b", "\f", "\x00", "\x01", "\x1f", "\x7f",
		"é", "世", "😀", "\u2028", "\u2029", "\u2027", "\u202a", "\ufffd", "\ufeff", "\xff", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80"}
	var sb strings.Builder
	for range rng.IntN(maxLen + 1) {
		if rng.IntN(3) == 0 {
			sb.WriteByte(byte(rng.IntN(256)))
		} else {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
	}
	return sb.String()
}

var fjExtremeFloats = []float64{0, math.Copysign(0, -1), 1, -1, 0.85, 1e-6, -1e-6, 9.999999e-7, 1e-7, 1.5e-9, 1e-10, 1e-100,
	1e20, 1e21, -1e21, 9.99999999e20, 123456789.123456789, 5e-324, -5e-324, math.SmallestNonzeroFloat64,
	math.MaxFloat64, -math.MaxFloat64, 1e308, 0.1, 0.30000000000000004, 1.0000000000000002, 0.9999999999999999,
	math.NaN(), math.Inf(1), math.Inf(-1)}

func fjRandFloat(rng *rand.Rand) float64 {
	switch rng.IntN(4) {
	case 0:
		return rng.Float64()*2 - 1
	case 1:
		return float64(float32(rng.Float64()*2 - 1)) // what float32 scores widen to
	case 2:
		return math.Float64frombits(rng.Uint64())
	}
	return fjExtremeFloats[rng.IntN(len(fjExtremeFloats))]
}

// checkRunResultEncoding compares appendRunResult with json.Marshal.
func checkRunResultEncoding(t testing.TB, r RunResult) {
	t.Helper()
	want, err := json.Marshal(r)
	got, ok := appendRunResult([]byte("junk"), &r)
	got = got[len("junk"):]
	if err != nil {
		if ok {
			t.Fatalf("%+v: json.Marshal fails (%v), appendRunResult gives %s", r, err, got)
		}
		return
	}
	if !ok || !bytes.Equal(got, want) {
		t.Fatalf("%+v:\nappendRunResult %s (ok %t)\njson.Marshal    %s", r, got, ok, want)
	}
}

func checkStoreResultEncoding(t testing.TB, id string, total int32) {
	t.Helper()
	want, err := json.Marshal(gin.H{"session_id": id, "stored": true, "total_memories": total})
	if err != nil {
		t.Fatal(err)
	}
	if got := appendStoreResult(nil, id, total); !bytes.Equal(got, want) {
		t.Fatalf("appendStoreResult %s\njson.Marshal      %s", got, want)
	}
}

func FuzzRunResultEncoding(f *testing.F) {
	f.Add("abc", "[Semvec Context]\nHint: <b>&amp;</b>", "stable", 0.5, 0.0, true, false, int32(3))
	f.Add("s\xff", "\u2028\u2029\x00\x1f\x7f\"\\/", "drifted", 1e-7, -0.0, false, true, int32(-1))
	f.Add("", "\xed\xa0\x80\xc3(", "", 1e21, 5e-324, true, true, int32(math.MaxInt32))
	f.Add("x", "é世😀", "shifting", math.NaN(), math.Inf(1), false, false, int32(math.MinInt32))
	f.Fuzz(func(t *testing.T, sid, ctx, phase string, top, drift float64, sc, dd bool, total int32) {
		checkRunResultEncoding(t, RunResult{SessionID: sid, Context: ctx, TopSimilarity: top, ShortCircuit: sc,
			DriftScore: drift, DriftDetected: dd, DriftPhase: phase})
		checkStoreResultEncoding(t, sid, total)
	})
}

func TestRunResultEncodingRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		checkRunResultEncoding(t, RunResult{SessionID: fjRandString(rng, 8), Context: fjRandString(rng, 80),
			TopSimilarity: fjRandFloat(rng), ShortCircuit: rng.IntN(2) == 0, DriftScore: fjRandFloat(rng),
			DriftDetected: rng.IntN(2) == 0, DriftPhase: fjRandString(rng, 4)})
		checkStoreResultEncoding(t, fjRandString(rng, 10), int32(rng.Uint32()))
	}
	for _, a := range fjExtremeFloats {
		for _, b := range fjExtremeFloats {
			checkRunResultEncoding(t, RunResult{TopSimilarity: a, DriftScore: b})
		}
	}
	// Every single byte and every rune class on its own.
	for c := range 256 {
		checkRunResultEncoding(t, RunResult{Context: string([]byte{byte(c)}), SessionID: "a" + string([]byte{byte(c)}) + "b"})
	}
	for r := rune(0); r < 0x3000; r++ {
		checkRunResultEncoding(t, RunResult{Context: string(r)})
	}
}

// renderRecorded runs write on a fresh gin context and returns what was
// written and the context's error state.
func renderRecorded(preset string, write func(c *gin.Context)) (*httptest.ResponseRecorder, string) {
	gin.SetMode(gin.TestMode)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	if preset != "" {
		c.Header("Content-Type", preset)
	}
	write(c)
	c.Writer.WriteHeaderNow()
	return w, fmt.Sprintf("errors=%v aborted=%t status=%d", c.Errors.Errors(), c.IsAborted(), c.Writer.Status())
}

// TestWriteResultsMatchCJSON: the whole response (status, headers, body, gin
// error state) is what c.JSON writes.
func TestWriteResultsMatchCJSON(t *testing.T) {
	results := []RunResult{
		{SessionID: "3f2a", Context: "[Semvec Context | Phase: initialization | Turn 0 | 0 memories]\nHint: <none> & \"more\"",
			TopSimilarity: 0.8123456789, ShortCircuit: false, DriftScore: 1e-7, DriftDetected: false, DriftPhase: "stable"},
		{SessionID: "x", TopSimilarity: math.NaN(), DriftPhase: "drifted"},
		{SessionID: "y", DriftScore: math.Inf(-1)},
	}
	for _, preset := range []string{"", "text/plain"} {
		for _, r := range results {
			std, stdState := renderRecorded(preset, func(c *gin.Context) { c.JSON(http.StatusOK, r) })
			fast, fastState := renderRecorded(preset, func(c *gin.Context) { testPools.writeRunResult(c, &r) })
			sameResponse(t, fmt.Sprintf("run %+v", r), std, fast)
			if stdState != fastState {
				t.Fatalf("run %+v: state %s, want %s", r, fastState, stdState)
			}
		}
		std, stdState := renderRecorded(preset, func(c *gin.Context) {
			c.JSON(http.StatusOK, gin.H{"session_id": "a<b", "stored": true, "total_memories": int32(7)})
		})
		fast, fastState := renderRecorded(preset, func(c *gin.Context) { testPools.writeStoreResult(c, "a<b", 7) })
		sameResponse(t, "store", std, fast)
		if stdState != fastState {
			t.Fatalf("store: state %s, want %s", fastState, stdState)
		}
	}
}

// ---- embedding buffers ----

// plainEmbedder hides Hashing's EmbedTo, as any other embedder would.
type plainEmbedder struct{ embed.Embedder }

func TestEmbedPooledMatchesEmbed(t *testing.T) {
	h := embed.NewHashing(384)
	if _, ok := testPools.embedPooled(plainEmbedder{h}, "a", "", false); ok {
		t.Fatal("an embedder without EmbedTo took the pooled path")
	}
	texts := []string{"How do I scale a Kubernetes deployment?", "use kubectl scale", "", "😀 é 世界", strings.Repeat("long text ", 500)}
	for i := range 20 { // enough round trips to reuse pooled buffers
		a, b := texts[i%len(texts)], texts[(i+1)%len(texts)]
		want, err := h.Embed(context.Background(), []string{a, b})
		if err != nil {
			t.Fatal(err)
		}
		v, ok := testPools.embedPooled(h, a, b, true)
		if !ok {
			t.Fatal("Hashing did not take the pooled path")
		}
		for j := range 2 {
			if !reflect.DeepEqual(v.v[j], want[j]) {
				t.Fatalf("round %d vector %d differs from Embed", i, j)
			}
		}
		testPools.release(v)
	}
}

// ---- benchmarks ----

// fjBenchBody is a request body that can be rewound.
type fjBenchBody struct{ bytes.Reader }

func (*fjBenchBody) Close() error { return nil }

func benchRunBodyRequest() (*gin.Context, *fjBenchBody, []byte) {
	gin.SetMode(gin.TestMode)
	body := []byte(`{"session_id":"0a1b2c3d4e5f","message":"what about rolling updates and replicas","response":"use kubectl rollout"}`)
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodPost, "/v1/run", nil)
	c.Request.ContentLength = int64(len(body))
	return c, &fjBenchBody{}, body
}

// BenchmarkFastJSONDecode compares binding a /v1/run body with bindJSON
// (old) and bindRunBody (new).
func BenchmarkFastJSONDecode(b *testing.B) {
	b.Run("bindJSON", func(b *testing.B) {
		c, rd, body := benchRunBodyRequest()
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(body)
			c.Request.Body = rd
			var rb RunBody
			if !bindJSON(c, &rb) {
				b.Fatal("not bound")
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		c, rd, body := benchRunBodyRequest()
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(body)
			c.Request.Body = rd
			var rb RunBody
			if !testPools.bindRunBody(c, &rb) {
				b.Fatal("not bound")
			}
		}
	})
}

// fjDiscard is a ResponseWriter that drops the body.
type fjDiscard struct{ h http.Header }

func (d *fjDiscard) Header() http.Header         { return d.h }
func (d *fjDiscard) Write(p []byte) (int, error) { return len(p), nil }
func (d *fjDiscard) WriteHeader(int)             {}

// BenchmarkFastJSONEncode compares writing a /v1/run answer with c.JSON
// (old) and writeRunResult (new).
func BenchmarkFastJSONEncode(b *testing.B) {
	gin.SetMode(gin.TestMode)
	r := RunResult{SessionID: "0a1b2c3d4e5f6a7b", Context: "[Semvec Context | Phase: exploration | Turn 11 | 10 memories]\n" +
		"Hint: the user is following up on an earlier question.\nRelevant context:\n- Q: How do I scale a Kubernetes deployment?\n" +
		"  A: an answer about replicas\n- Q: follow-up question number 3\n  A: an answer about replicas",
		TopSimilarity: 0.7312345, ShortCircuit: false, DriftScore: 0.0123, DriftDetected: false, DriftPhase: "stable"}
	b.Run("cJSON", func(b *testing.B) {
		c, _ := gin.CreateTestContext(&fjDiscard{h: http.Header{}})
		b.ReportAllocs()
		for b.Loop() {
			c.JSON(http.StatusOK, r)
		}
	})
	b.Run("fast", func(b *testing.B) {
		c, _ := gin.CreateTestContext(&fjDiscard{h: http.Header{}})
		b.ReportAllocs()
		for b.Loop() {
			testPools.writeRunResult(c, &r)
		}
	})
}

// ---- end to end ----

// fjServer is the whole engine over real actors and SQLite with embedder
// emb, and an enterprise token (no rate limit).
func fjServer(t *testing.T, emb embed.Embedder) (http.Handler, string) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	ctx := context.Background()
	store, err := persistence.Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "semvec.db"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	sys := actors.NewActorSystem(log)
	ask := &actors.Asker{Root: sys.Root, Timeout: 5 * time.Second}
	sessions := actors.NewSessions(sys.Root, store, ask, actors.SessionConfig{Dim: emb.Dim(), ModelName: emb.Name()}, log, nil)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sessions.Shutdown(sctx); err != nil {
			t.Errorf("sessions shutdown: %v", err)
		}
		sys.Shutdown()
		_ = store.Close()
	})
	pub, priv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := license.Issue(priv, "fj", semvec.TierEnterprise, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := New(Deps{Log: log, Verifier: license.NewVerifier([]ed25519.PublicKey{pub}), Embedder: emb, Sessions: sessions,
		DB: store, Metrics: NewMetrics(prometheus.NewRegistry()), Limiter: NewRateLimiter(nil)})
	return h, tok
}

// TestRunStoreEndToEndSameAsStandardEmbedding drives the same turns through
// a server whose embedder has EmbedTo (pooled vectors) and one whose
// embedder does not (embedTexts): every answer is byte-identical.
func TestRunStoreEndToEndSameAsStandardEmbedding(t *testing.T) {
	pooledH, pooledTok := fjServer(t, embed.NewHashing(384))
	plainH, plainTok := fjServer(t, plainEmbedder{embed.NewHashing(384)})
	send := func(h http.Handler, tok, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	var steps [][2]string
	for s := range 3 {
		id := fmt.Sprintf("fj-session-%d", s)
		steps = append(steps, [2]string{"/v1/run", fmt.Sprintf(`{"session_id":%q,"message":"How do I scale a Kubernetes deployment? <%d>","reset_context":true}`, id, s)})
		for turn := range 6 {
			steps = append(steps,
				[2]string{"/v1/run", fmt.Sprintf(`{"session_id":%q,"message":"follow-up question number %d about replicas \u00e9","response":"an answer about replicas & pods %d","short_circuit_threshold":0.5}`, id, turn, turn)},
				[2]string{"/v1/store", fmt.Sprintf(`{"session_id":%q,"response":"use kubectl rollout status %d"}`, id, turn)})
		}
		steps = append(steps,
			[2]string{"/v1/run", fmt.Sprintf(`{"session_id":%q,"message":"follow-up question number 3 about replicas é"}`, id)},
			[2]string{"/v1/run", fmt.Sprintf(`{"session_id":%q,"message":"   "}`, id)},
			[2]string{"/v1/run", fmt.Sprintf(`{"session_id":%q,"Message":"case"}`, id)},
			[2]string{"/v1/store", fmt.Sprintf(`{"session_id":%q,"response":""}`, id)})
	}
	steps = append(steps, [2]string{"/v1/run", `{"session_id":"fj-missing","message":"x"}`},
		[2]string{"/v1/store", `{"session_id":"fj-missing","response":"x"}`})
	for i, st := range steps {
		a := send(pooledH, pooledTok, st[0], st[1])
		b := send(plainH, plainTok, st[0], st[1])
		a.Header().Del("X-Request-Id")
		b.Header().Del("X-Request-Id")
		sameResponse(t, fmt.Sprintf("step %d %s %s", i, st[0], st[1]), b, a)
		if i == 1 && a.Code != http.StatusOK {
			t.Fatalf("step %d: %d %s", i, a.Code, a.Body.String())
		}
	}
}

// testPools are the fast-path pools the tests share, as one Server would.
var testPools = &fastPools{}

package http

// Fast paths for the two hottest routes, POST /v1/run and POST /v1/store.
//
// Decoding: bindRunBody and bindStoreBody read the body into a pooled buffer
// and decode it with a small decoder for flat JSON objects that applies the
// `binding:` rules of RunBody and storeBody itself. It handles only the
// common case — an object whose keys are exactly the json tags, each at most
// once, with values of the right JSON type that pass validation — and
// otherwise reports "not handled"; the body is then handed to bindJSON, which
// answers exactly as it always did (the 422 items, the 413). Whatever the fast
// decoder accepts, encoding/json plus gin's validator accept too, with the
// same result (FuzzRunBodyFastPath checks this).
//
// Encoding: writeRunResult and writeStoreResult append the response to a
// pooled buffer, byte for byte what c.JSON (encoding/json.Marshal) writes,
// with the same status and Content-Type.
//
// Both paths are used only when gin's JSON codec is encoding/json (the
// default build); with the jsoniter, go_json or sonic build tags every request
// takes the standard paths.

import (
	"bytes"
	"io"
	"math"
	"math/bits"
	"net/http"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	ginjson "github.com/gin-gonic/gin/codec/json"
	"github.com/gin-gonic/gin/render"
)

// fastJSON reports whether gin's JSON codec is encoding/json, whose decoding
// and encoding the fast paths reproduce.
const fastJSON = ginjson.Package == "encoding/json"

// maxSessionIDChars is the `max` of session_id in RunBody and storeBody.
const maxSessionIDChars = 128

// Pooled buffers: fjBuf sizes.
const (
	fjInitialCap = 4 << 10  // new buffers
	fjKeepCap    = 64 << 10 // larger buffers are left to the GC
	fjPresizeMax = 1 << 20  // a declared Content-Length up to this sizes the read buffer
)

// fjBuf is the pooled working memory of one decode or one encode.
type fjBuf struct {
	body []byte // the request body
	str  []byte // unescaped string scratch
	out  []byte // the encoded response
}

// fastPools are a Server's pooled buffers for the fast paths: request and
// response buffers (*fjBuf) and embedding vectors (*pooledVecs). The zero
// value is ready to use.
type fastPools struct {
	bufs sync.Pool // of *fjBuf
	vecs sync.Pool // of *pooledVecs
}

func (p *fastPools) getBuf() *fjBuf {
	if b, ok := p.bufs.Get().(*fjBuf); ok {
		return b
	}
	return &fjBuf{body: make([]byte, 0, fjInitialCap)}
}

func (p *fastPools) putBuf(b *fjBuf) {
	if cap(b.body) > fjKeepCap {
		b.body = nil
	}
	if cap(b.str) > fjKeepCap {
		b.str = nil
	}
	if cap(b.out) > fjKeepCap {
		b.out = nil
	}
	p.bufs.Put(b)
}

// Render writes b.out as a JSON response: what render.JSON does once the
// value is marshalled. *fjBuf is a render.Render so c.Render applies gin's
// status and error handling unchanged.
func (b *fjBuf) Render(w http.ResponseWriter) error {
	render.JSON{}.WriteContentType(w)
	_, err := w.Write(b.out)
	return err
}

// WriteContentType sets the JSON Content-Type unless one is set.
func (b *fjBuf) WriteContentType(w http.ResponseWriter) { render.JSON{}.WriteContentType(w) }

// ---- request side ----

// bindRunBody is bindJSON for RunBody, with the fast path in front.
func (p *fastPools) bindRunBody(c *gin.Context, dst *RunBody) bool {
	buf := p.readFastBody(c)
	if buf != nil {
		if decodeRunBody(buf.body, &buf.str, dst) {
			p.putBuf(buf)
			return true
		}
		*dst = RunBody{}
	}
	// Decode into a separate value, so that dst stays on the caller's stack
	// on the fast path.
	v := new(RunBody)
	ok := p.bindFallback(c, buf, v)
	*dst = *v
	return ok
}

// bindStoreBody is bindJSON for storeBody, with the fast path in front.
func (p *fastPools) bindStoreBody(c *gin.Context, dst *storeBody) bool {
	buf := p.readFastBody(c)
	if buf != nil {
		if decodeStoreBody(buf.body, &buf.str, dst) {
			p.putBuf(buf)
			return true
		}
		*dst = storeBody{}
	}
	v := new(storeBody)
	ok := p.bindFallback(c, buf, v)
	*dst = *v
	return ok
}

// readFastBody reads the request body into a pooled buffer. It returns nil
// when the fast path does not apply: another JSON codec, no body, or a read
// error — then c.Request.Body replays what was read followed by the error,
// so bindJSON answers exactly as before (413 for a body over the maxBody
// limit, 400 otherwise).
func (p *fastPools) readFastBody(c *gin.Context) *fjBuf {
	body := c.Request.Body
	if !fastJSON || body == nil || body == http.NoBody {
		return nil
	}
	buf := p.getBuf()
	data := buf.body[:0]
	if n := c.Request.ContentLength; n >= int64(cap(data)) || cap(data) == 0 {
		// Room for a declared length (+1: the read that sees EOF needs
		// room too); larger bodies grow as they are read.
		data = make([]byte, 0, max(fjInitialCap, min(n+1, fjPresizeMax)))
	}
	data, err := readAllInto(body, data)
	if err != nil {
		// buf is not reused: the replay reader keeps its memory.
		c.Request.Body = io.NopCloser(io.MultiReader(bytes.NewReader(data), errReader{err}))
		return nil
	}
	buf.body = data
	return buf
}

// bindFallback runs bindJSON on the body held in buf (nil: on c.Request.Body
// as it is).
func (p *fastPools) bindFallback(c *gin.Context, buf *fjBuf, dst any) bool {
	if buf == nil {
		return bindJSON(c, dst)
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(buf.body))
	ok := bindJSON(c, dst)
	// bindJSON read the reader to its end and put back its own copy of the
	// body, so nothing refers to buf any more.
	p.putBuf(buf)
	return ok
}

// readAllInto is io.ReadAll appending to b.
func readAllInto(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}

// decodeRunBody decodes a flat JSON object into out and applies RunBody's
// binding rules. It returns false (out partly written) for anything it does
// not handle: bindJSON decides those.
func decodeRunBody(data []byte, scratch *[]byte, out *RunBody) bool {
	d := fjDecoder{b: data, tmp: scratch}
	if !d.open() {
		return false
	}
	var seen uint8
	for first := true; ; first = false {
		key, end, ok := d.key(first)
		if !ok {
			return false
		}
		if end {
			break
		}
		var bit uint8
		switch string(key) {
		case "message":
			bit = 1
			out.Message, ok = d.str(maxMessageChars)
		case "session_id":
			bit = 2
			out.SessionID, ok = d.str(maxSessionIDChars)
		case "response":
			bit = 4
			out.Response, ok = d.str(maxResponseChars)
		case "short_circuit_threshold":
			bit = 8
			var v float64
			var null bool
			v, null, ok = d.number()
			if ok && !null {
				if !(v >= -1 && v <= 1) {
					return false
				}
				out.ShortCircuitThreshold = &v
			}
		case "reset_context":
			bit = 16
			out.ResetContext, ok = d.boolean()
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	return d.end() && out.Message != ""
}

// decodeStoreBody is decodeRunBody for storeBody.
func decodeStoreBody(data []byte, scratch *[]byte, out *storeBody) bool {
	d := fjDecoder{b: data, tmp: scratch}
	if !d.open() {
		return false
	}
	var seen uint8
	for first := true; ; first = false {
		key, end, ok := d.key(first)
		if !ok {
			return false
		}
		if end {
			break
		}
		var bit uint8
		switch string(key) {
		case "session_id":
			bit = 1
			out.SessionID, ok = d.str(maxSessionIDChars)
		case "response":
			bit = 2
			out.Response, ok = d.str(maxResponseChars)
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	return d.end() && out.SessionID != "" && out.Response != ""
}

// fjDecoder reads one flat JSON object from b.
type fjDecoder struct {
	b   []byte
	i   int
	tmp *[]byte // scratch for unescaping
}

func (d *fjDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// open consumes leading whitespace and '{'.
func (d *fjDecoder) open() bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '{' {
		d.i++
		return true
	}
	return false
}

// end reports whether only whitespace follows.
func (d *fjDecoder) end() bool {
	d.ws()
	return d.i == len(d.b)
}

// key reads the next member's key and the ':' after it, or the closing '}'
// (end). first: no ',' before the key. The key is returned as its raw bytes;
// keys with escapes or non-ASCII bytes are not handled (ours are plain
// ASCII, and encoding/json would match such keys case-insensitively).
func (d *fjDecoder) key(first bool) (key []byte, end, ok bool) {
	d.ws()
	if d.i >= len(d.b) {
		return nil, false, false
	}
	c := d.b[d.i]
	if c == '}' {
		d.i++
		return nil, true, true
	}
	if !first {
		if c != ',' {
			return nil, false, false
		}
		d.i++
		d.ws()
		if d.i >= len(d.b) {
			return nil, false, false
		}
		c = d.b[d.i]
	}
	if c != '"' {
		return nil, false, false
	}
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		switch x := d.b[j]; {
		case x == '"':
			key = d.b[start:j]
			d.i = j + 1
			d.ws()
			if d.i < len(d.b) && d.b[d.i] == ':' {
				d.i++
				d.ws()
				return key, false, true
			}
			return nil, false, false
		case x == '\\' || x < 0x20 || x >= utf8.RuneSelf:
			return nil, false, false
		}
	}
	return nil, false, false
}

// literal consumes lit if it is next.
func (d *fjDecoder) literal(lit string) bool {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return true
	}
	return false
}

// boolean reads true, false or null (null leaves a bool false, as
// encoding/json ignores null for non-pointer scalars).
func (d *fjDecoder) boolean() (v, ok bool) {
	switch {
	case d.literal("true"):
		return true, true
	case d.literal("false"), d.literal("null"):
		return false, true
	}
	return false, false
}

// number reads a JSON number or null, as encoding/json reads it into a
// *float64 (strconv.ParseFloat of the literal; out of range is an error).
func (d *fjDecoder) number() (v float64, null, ok bool) {
	if d.literal("null") {
		return 0, true, true
	}
	b, i := d.b, d.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return 0, false, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i++
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return 0, false, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	f, err := strconv.ParseFloat(string(b[start:i]), 64)
	if err != nil {
		return 0, false, false
	}
	d.i = i
	return f, false, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// fjPlain marks the bytes a JSON string holds as they are with no further
// check: printable ASCII except '"' and '\\'.
var fjPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string value, or null (""), whose decoded form has at most
// maxRunes runes (validator's `max` on a string counts runes). The result
// never aliases d.b. Strings with invalid UTF-8 are not handled:
// encoding/json would replace the bad bytes with U+FFFD.
func (d *fjDecoder) str(maxRunes int) (string, bool) {
	b := d.b
	if d.i >= len(b) || b[d.i] != '"' {
		if d.literal("null") { // encoding/json leaves the string as it was
			return "", true
		}
		return "", false
	}
	start := d.i + 1
	i := start
	ascii := true
	for {
		for i < len(b) && fjPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return "", false
		}
		c := b[i]
		switch {
		case c == '"':
			s := b[start:i]
			if !ascii && !utf8.Valid(s) || !runesAtMost(s, maxRunes) {
				return "", false
			}
			d.i = i + 1
			return string(s), true
		case c == '\\':
			return d.strEscaped(start, i, maxRunes)
		case c < 0x20:
			return "", false
		}
		ascii = false
		i++
	}
}

// strEscaped continues str at the first backslash, b[i], unescaping into the
// scratch buffer exactly as encoding/json does: a \u escape of a surrogate
// half that does not pair with a following \u escape becomes U+FFFD.
func (d *fjDecoder) strEscaped(start, i, maxRunes int) (string, bool) {
	b := d.b
	out := (*d.tmp)[:0]
	raw := start // start of the bytes not yet copied
	for {
		for i < len(b) && (fjPlain[b[i]] || b[i] >= utf8.RuneSelf) {
			i++
		}
		if i >= len(b) || b[i] < 0x20 {
			return "", false
		}
		// b[i] is '"' or '\\': copy the raw run before it. Escapes are ASCII,
		// so validating each run validates the string.
		if !utf8.Valid(b[raw:i]) {
			return "", false
		}
		out = append(out, b[raw:i]...)
		if b[i] == '"' {
			d.i = i + 1
			break
		}
		if i+1 >= len(b) {
			return "", false
		}
		switch e := b[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
			i += 2
		case 'b':
			out = append(out, '\b')
			i += 2
		case 'f':
			out = append(out, '\f')
			i += 2
		case 'n':
			out = append(out, '\n')
			i += 2
		case 'r':
			out = append(out, '\r')
			i += 2
		case 't':
			out = append(out, '\t')
			i += 2
		case 'u':
			r, ok := hex4(b, i+2)
			if !ok {
				return "", false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				hi := r
				r = utf8.RuneError
				if len(b)-i >= 6 && b[i] == '\\' && b[i+1] == 'u' {
					if lo, ok := hex4(b, i+2); ok {
						if dec := utf16.DecodeRune(hi, lo); dec != utf8.RuneError {
							r = dec
							i += 6
						}
					}
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
		raw = i
	}
	*d.tmp = out
	if !runesAtMost(out, maxRunes) {
		return "", false
	}
	return string(out), true
}

// hex4 parses the 4 hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if len(b)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// runesAtMost reports whether valid UTF-8 s has at most n runes.
func runesAtMost(s []byte, n int) bool {
	return len(s) <= n || utf8.RuneCount(s) <= n
}

// ---- response side ----

// writeRunResult is c.JSON(http.StatusOK, *r).
func (p *fastPools) writeRunResult(c *gin.Context, r *RunResult) {
	if !fastJSON {
		c.JSON(http.StatusOK, *r)
		return
	}
	buf := p.getBuf()
	out, ok := appendRunResult(buf.out[:0], r)
	buf.out = out
	if !ok { // NaN or ±Inf: let encoding/json report it as it always did
		p.putBuf(buf)
		c.JSON(http.StatusOK, *r)
		return
	}
	c.Render(http.StatusOK, buf)
	p.putBuf(buf)
}

// writeStoreResult is c.JSON(http.StatusOK, gin.H{"session_id": id,
// "stored": true, "total_memories": total}).
func (p *fastPools) writeStoreResult(c *gin.Context, id string, total int32) {
	if !fastJSON {
		c.JSON(http.StatusOK, gin.H{"session_id": id, "stored": true, "total_memories": total})
		return
	}
	buf := p.getBuf()
	buf.out = appendStoreResult(buf.out[:0], id, total)
	c.Render(http.StatusOK, buf)
	p.putBuf(buf)
}

// appendRunResult appends json.Marshal(*r) to b; ok is false when a float
// is NaN or infinite, which json.Marshal refuses.
func appendRunResult(b []byte, r *RunResult) (_ []byte, ok bool) {
	b = append(b, `{"session_id":`...)
	b = appendJSONString(b, r.SessionID)
	b = append(b, `,"context":`...)
	b = appendJSONString(b, r.Context)
	b = append(b, `,"top_similarity":`...)
	if b, ok = appendJSONFloat(b, r.TopSimilarity); !ok {
		return b, false
	}
	b = append(b, `,"short_circuit":`...)
	b = strconv.AppendBool(b, r.ShortCircuit)
	b = append(b, `,"drift_score":`...)
	if b, ok = appendJSONFloat(b, r.DriftScore); !ok {
		return b, false
	}
	b = append(b, `,"drift_detected":`...)
	b = strconv.AppendBool(b, r.DriftDetected)
	b = append(b, `,"drift_phase":`...)
	b = appendJSONString(b, r.DriftPhase)
	return append(b, '}'), true
}

// appendStoreResult appends the /v1/store answer as json.Marshal writes the
// gin.H (keys sorted).
func appendStoreResult(b []byte, id string, total int32) []byte {
	b = append(b, `{"session_id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"stored":true,"total_memories":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	return append(b, '}')
}

// appendJSONFloat appends f as encoding/json encodes a float64; ok is false
// for NaN and ±Inf.
func appendJSONFloat(b []byte, f float64) (_ []byte, ok bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// fjHTMLSafe marks the ASCII bytes encoding/json writes as they are when
// escaping HTML: printable ASCII except '"', '\\', '<', '>' and '&'.
var fjHTMLSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// Word-at-a-time ("SWAR") scanning for appendJSONString: 8 bytes of s are
// loaded into a uint64 and tested together with bit tricks from
// https://graphics.stanford.edu/~seander/bithacks.html#ZeroInWord.
const (
	fjOnes = 0x0101010101010101 // 0x01 in every byte
	fjHigh = 0x8080808080808080 // 0x80 in every byte
)

// fjLoad64 returns s[:8] as a little-endian uint64, s[0] in the low byte.
// It is binary.LittleEndian.Uint64 for a string; the compiler merges the
// byte loads into one 8-byte load.
func fjLoad64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// fjAttention returns the bytes of x (8 bytes of a string, s[0] in the low
// byte) that need more than a plain copy into a JSON string, as 0x80 set in
// each such byte: a control character (< 0x20), a non-ASCII byte (>= 0x80,
// which may be invalid UTF-8 or start U+2028/U+2029), or one of '"', '\\',
// '<', '>', '&'. It is zero when the 8 bytes can be copied as they are.
//
// Each byte is tested on its own, so every flag is exact: with t the low 7
// bits of a byte (at most 0x7f), t + (0x80-n) has its top bit set iff
// t >= n, and never carries into the next byte. A byte equals c iff t^c is
// 0, i.e. not >= 1; clearing one bit of t^c first tests for two values
// that differ in that bit: '<' and '>' (0x3c, 0x3e), '"' and '&' (0x22,
// 0x26). Bytes >= 0x80 are flagged by their own top bit.
func fjAttention(x uint64) uint64 {
	t := x &^ fjHigh
	plain := (t + fjOnes*(0x80-0x20)) & // >= 0x20
		((t ^ fjOnes*'\\') + fjOnes*0x7f) & // not '\\'
		(((t ^ fjOnes*'>') &^ (fjOnes * 0x02)) + fjOnes*0x7f) & // not '<' or '>'
		(((t ^ fjOnes*'&') &^ (fjOnes * 0x04)) + fjOnes*0x7f) // not '"' or '&'
	return (x | ^plain) & fjHigh
}

// fjSkipPlain returns the index of the first byte of s at or after i that
// needs attention (fjAttention), looking 8 bytes at a time; when the whole
// words from i on have none, it returns the start of the tail after them,
// shorter than a word, which the caller checks byte by byte.
func fjSkipPlain(s string, i int) int {
	rest := s[i:]
	for ; len(rest) >= 8; rest = rest[8:] {
		if m := fjAttention(fjLoad64(rest)); m != 0 {
			return len(s) - len(rest) + bits.TrailingZeros64(m)/8
		}
	}
	return len(s) - len(rest)
}

// appendJSONString appends s quoted as encoding/json.Marshal does: HTML
// characters, U+2028 and U+2029 escaped, invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0 // s[start:i] is copied as it is, when a byte needs escaping or at the end
	for i := 0; i < len(s); {
		// Skip plain bytes 8 at a time, to the next byte that needs
		// attention or to the tail shorter than a word, which goes byte by
		// byte. A non-ASCII byte needs attention itself: the word test
		// would only point at it again, so runs of multi-byte runes skip it.
		if s[i] < utf8.RuneSelf {
			if i = fjSkipPlain(s, i); i == len(s) {
				break
			}
		}
		if c := s[i]; c < utf8.RuneSelf {
			if fjHTMLSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

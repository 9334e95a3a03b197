package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkJSONString fails t unless appendJSONString(prefix, s) is prefix
// followed by json.Marshal(s), byte for byte.
func checkJSONString(t testing.TB, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("json.Marshal(%q): %v", s, err)
	}
	const prefix = "junk"
	got := appendJSONString([]byte(prefix), s)
	if !bytes.HasPrefix(got, []byte(prefix)) {
		t.Fatalf("appendJSONString(%q) clobbered the buffer: %q", s, got)
	}
	if got = got[len(prefix):]; !bytes.Equal(got, want) {
		t.Fatalf("appendJSONString(%q):\ngot  %s\nwant %s", s, got, want)
	}
	// With no spare capacity in b and with plenty of it.
	if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("appendJSONString(nil, %q):\ngot  %s\nwant %s", s, got, want)
	}
	if got := appendJSONString(make([]byte, 0, 4*len(s)+8), s); !bytes.Equal(got, want) {
		t.Fatalf("appendJSONString(big, %q):\ngot  %s\nwant %s", s, got, want)
	}
}

// jsonStringPad is printable ASCII that needs no escaping, so that the
// word-at-a-time fast path runs over it.
const jsonStringPad = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;!?()[]{}|=+-_*/'`~^%$#@"

func jsonStringPadding(n int) string {
	return strings.Repeat(jsonStringPad, n/len(jsonStringPad)+1)[:n]
}

// jsonStringPadLens are padding lengths around the 8-byte word size.
var jsonStringPadLens = []int{0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40}

// TestAppendJSONStringEveryByte places every byte value at every offset
// 0..17 in ASCII padding of several lengths, alone and next to a second
// special byte, so that each byte is seen in every position of a word and
// in the tail shorter than a word.
func TestAppendJSONStringEveryByte(t *testing.T) {
	for _, after := range jsonStringPadLens {
		for off := 0; off <= 17; off++ {
			pre := jsonStringPadding(off)
			post := jsonStringPadding(after)
			for c := range 256 {
				checkJSONString(t, pre+string([]byte{byte(c)})+post)
			}
		}
	}
	// Pairs of bytes in one word: the first needs attention, the second
	// must still be seen after the fallback resumes.
	specials := []byte{0, '\n', 0x1f, ' ', '"', '\\', '<', '>', '&', 0x7f, 0x80, 0xc3, 0xe2, 0xff}
	for off := 0; off <= 9; off++ {
		for gap := 0; gap <= 9; gap++ {
			for _, a := range specials {
				for _, b := range specials {
					checkJSONString(t, jsonStringPadding(off)+string([]byte{a})+jsonStringPadding(gap)+string([]byte{b})+jsonStringPadding(11))
				}
			}
		}
	}
}

// TestFJAttentionExact checks fjAttention against the byte-by-byte rule on
// every byte value in every position of words whose other bytes are random
// or plain: it flags exactly the bytes that need attention, so that
// appendJSONString neither misses one nor leaves its fast path needlessly.
func TestFJAttentionExact(t *testing.T) {
	needs := func(c byte) bool { return c >= utf8.RuneSelf || !fjHTMLSafe[c] }
	check := func(w [8]byte) {
		var want uint64
		for k, c := range w {
			if needs(c) {
				want |= 0x80 << (8 * k)
			}
		}
		if got := fjAttention(fjLoad64(string(w[:]))); got != want {
			t.Fatalf("fjAttention(% x) = %#016x, want %#016x", w, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		var w [8]byte
		for k := range w {
			w[k] = byte(rng.Uint32())
			if rng.IntN(2) == 0 { // plain bytes half the time
				w[k] = jsonStringPad[rng.IntN(len(jsonStringPad))]
			}
		}
		for k := range w {
			for c := range 256 {
				v := w
				v[k] = byte(c)
				check(v)
			}
		}
	}
	for range 100000 {
		var w [8]byte
		for k := range w {
			w[k] = byte(rng.Uint32())
		}
		check(w)
	}
}

// jsonStringSpecials are runes and byte sequences that are not plain ASCII:
// U+2028/9 and their neighbours, 2-, 3- and 4-byte UTF-8, and truncated or
// invalid UTF-8 (surrogates, overlongs, beyond U+10FFFF, stray
// continuation bytes).
var jsonStringSpecials = []string{
	"\u2028", "\u2029", "\u2027", "\u202a", "\u2020",
	"é", "ß", "ü", "\u0080", "\u07ff", // 2 bytes
	"世", "日本語", "\u0800", "\ufeff", "\ufffd", "\uffff", // 3 bytes
	"😀", "\U00010000", "\U0010ffff", // 4 bytes
	"\xe2\x80", "\xe2", "\xe2\x80\xa8\xa8", "\xe2\x81\xa8", // truncated U+2028, extra continuation, near miss
	"\xc3", "\xc3(", "\xe4\xb8", "\xf0\x9f\x98", "\xf0\x9f", "\xf0", // truncated
	"\x80", "\xbf", "\x80\x80\x80\x80\x80\x80\x80\x80\x80", // stray continuation bytes
	"\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xf0\x80\x80\x80", // overlong
	"\xed\xa0\x80", "\xed\xbf\xbf", // surrogate halves
	"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xfe", "\xff", // out of range
	"<script>&amp;</script>", "\"\\\"\\", "\u2028\u2029\u2028",
}

// TestAppendJSONStringSpecials puts each special sequence at every offset
// 0..17 (so that multi-byte runes straddle the 8-byte word boundaries) in
// padding of several lengths, alone, twice, and next to every other one.
func TestAppendJSONStringSpecials(t *testing.T) {
	for _, after := range jsonStringPadLens {
		for off := 0; off <= 17; off++ {
			pre, post := jsonStringPadding(off), jsonStringPadding(after)
			for _, sp := range jsonStringSpecials {
				checkJSONString(t, pre+sp+post)
				checkJSONString(t, pre+sp+post+sp)
			}
		}
	}
	for off := 0; off <= 8; off++ {
		for _, a := range jsonStringSpecials {
			for _, b := range jsonStringSpecials {
				checkJSONString(t, jsonStringPadding(off)+a+b+jsonStringPadding(9))
			}
		}
	}
	// Every rune of the BMP but the CJK and Hangul blocks, and a sample of
	// the supplementary planes, on their own and straddling a word boundary.
	for r := rune(0); r <= utf8.MaxRune; r++ {
		switch {
		case r >= 0x3000 && r < 0xd000:
			r = 0xd000
		case r >= 0x10100 && r < utf8.MaxRune-0x100:
			r += 250
		}
		s := string(r)
		checkJSONString(t, s)
		checkJSONString(t, "abcdefg"+s+"hijklmnop")
	}
}

// TestAppendJSONStringRealistic checks long texts like the context strings
// of /v1/run answers.
func TestAppendJSONStringRealistic(t *testing.T) {
	for _, s := range []string{benchJSONContext, benchJSONContextUnicode, strings.Repeat("x", 4096),
		strings.Repeat("\n", 100), strings.Repeat("<&>", 100), strings.Repeat("é", 100)} {
		checkJSONString(t, s)
		for i := range 17 { // every alignment of the whole text
			checkJSONString(t, s[i:])
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("")
	f.Add("plain ascii text that is longer than one word")
	f.Add(benchJSONContext)
	f.Add(benchJSONContextUnicode)
	for _, sp := range jsonStringSpecials {
		f.Add("abcdefg" + sp + "hijklmnop")
	}
	f.Add("\x00\x01\x1f\x7f\"\\/<>&\b\f\n\r\t")
	f.Fuzz(func(t *testing.T, s string) {
		checkJSONString(t, s)
	})
}

// contextFixture lays out a /v1/run context block: the head lines, five
// numbered Q&A memories (variant names the "(variant N)" suffix) and tail.
func contextFixture(head []string, qa [][2]string, variant, tail string) string {
	var sb strings.Builder
	for _, h := range head {
		sb.WriteString(h + "\n")
	}
	for i, p := range qa {
		fmt.Fprintf(&sb, "  %d. [0.%d] Q: %s (%s %d) A: %s\n", i+1, 27-i*3, p[0], variant, i+3, p[1])
	}
	sb.WriteString(tail)
	return sb.String()
}

// benchJSONContext is a typical /v1/run context string (~1 KB, ASCII, a
// newline every 60-100 bytes).
var benchJSONContext = contextFixture(
	[]string{"[Semvec Context | Phase: instability | Turn 13 | 13 memories]", "Hint: Topic shift: ask the user to clarify if unsure.", "Relevant context:"},
	[][2]string{
		{"How do I configure a Postgres read replica?", "Enable streaming replication and set primary_conninfo."},
		{"How do I scale a Kubernetes deployment?", "Use kubectl scale --replicas=5 deployment/web."},
		{"Why is my Go service leaking goroutines?", "Check for blocked channel sends and missing context cancellation."},
		{"How do I rotate TLS certificates without downtime?", "Reload the listener with the new keypair via SIGHUP."},
		{"What is a good Redis eviction policy for caches?", "Use allkeys-lru and set maxmemory explicitly."},
	},
	"variant",
	"Previous answer:\nEnable streaming replication on the primary, create a replication slot, "+
		"take a base backup with pg_basebackup and start the replica with primary_conninfo pointing at the primary.")

// benchJSONContextUnicode is benchJSONContext's shape with German and
// Japanese text.
var benchJSONContextUnicode = contextFixture(
	[]string{"[Semvec Context | Phase: stable | Turn 4 | 5 memories]", "Hinweis: Themenwechsel – bitte Rückfrage stellen, falls unklar.", "Relevant context:"},
	[][2]string{
		{"Wie konfiguriere ich ein Postgres-Lesereplikat?", "Streaming-Replikation aktivieren und primary_conninfo setzen."},
		{"Kubernetes のデプロイをスケールするには?", "kubectl scale でレプリカ数を変更します。"},
		{"Warum verbraucht mein Dienst so viel Speicher?", "Größe der Puffer prüfen und Lecks im Heap-Profil suchen."},
		{"TLS 証明書をダウンタイムなしで更新する方法は?", "新しい鍵ペアでリスナーを再読み込みします。"},
		{"Welche Redis-Verdrängungsstrategie für Caches?", "allkeys-lru verwenden und maxmemory ausdrücklich setzen."},
	},
	"Variante",
	"Vorherige Antwort:\nStreaming-Replikation auf dem Primärserver aktivieren, einen Replikationsslot anlegen "+
		"und das Replikat mit pg_basebackup aufsetzen. 以上です。")

// BenchmarkAppendJSONString quotes realistic /v1/run context strings.
func BenchmarkAppendJSONString(b *testing.B) {
	for _, bc := range []struct {
		name string
		s    string
	}{
		{"ascii", benchJSONContext},
		{"unicode", benchJSONContextUnicode},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 2*len(bc.s))
			b.SetBytes(int64(len(bc.s)))
			b.ReportAllocs()
			for b.Loop() {
				buf = appendJSONString(buf[:0], bc.s)
			}
		})
	}
}

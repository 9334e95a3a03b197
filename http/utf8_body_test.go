package http

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// A body that is not UTF-8 is refused as FastAPI refuses it (Python cannot
// decode it: 400 "There was an error parsing the body"), on every route
// with a body, instead of being stored with U+FFFD in place of its bytes;
// the same text in UTF-8 is taken.
func TestABodyThatIsNotUTF8Is400(t *testing.T) {
	s := newLyServer(t)
	checked := checkedSender(t, s)
	send := func(path, body string) *httptest.ResponseRecorder {
		t.Helper()
		return checked("POST", path, "application/json", body)
	}
	for _, tc := range []struct{ path, body string }{
		{"/v1/cluster/", "{\"name\":\"\xff\xfe\"}"},
		{"/v1/run", "{\"message\":\"caf\xe9\"}"},                    // Latin-1
		{"/v1/session/create", "{\"model_name\":\"\xed\xa0\x80\"}"}, // an encoded surrogate
		{"/v1/run", "{\"message\":\"ok\"\xc0}"},                     // not UTF-8 and not JSON: the decoding fails first
	} {
		rec := send(tc.path, tc.body)
		var e struct{ Detail string }
		if rec.Code != 400 || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Detail != "There was an error parsing the body" {
			t.Errorf("POST %s %q: %d %s, want 400 There was an error parsing the body", tc.path, tc.body, rec.Code, rec.Body)
		}
	}
	if rec := send("/v1/cluster/", `{"name":"café ☕"}`); rec.Code != 201 || !strings.Contains(rec.Body.String(), `"café ☕"`) {
		t.Errorf("a UTF-8 name: %d %s", rec.Code, rec.Body)
	}
}

// A \u escape of a lone surrogate names no character: it is taken, and
// read as U+FFFD (README, "Errors"), never stored as bytes that are not
// UTF-8; a pair is the character it encodes.
func TestALoneSurrogateEscapeIsReadAsU_FFFD(t *testing.T) {
	s := newLyServer(t)
	checked := checkedSender(t, s)
	for _, tc := range []struct{ name, want string }{
		{`a\ud800b`, "a\uFFFDb"},
		{`\udc00`, "\uFFFD"},
		{`\ud83d\ude00`, "😀"},
	} {
		rec := checked("POST", "/v1/cluster/", "application/json", `{"name":"`+tc.name+`"}`)
		var c struct{ Name string }
		if rec.Code != 201 || json.Unmarshal(rec.Body.Bytes(), &c) != nil || c.Name != tc.want {
			t.Errorf("name %s: %d %s, want 201 with name %q", tc.name, rec.Code, rec.Body, tc.want)
		}
	}
}

package main

import (
	"encoding/json"
	"testing"
)

// The bodies the throughput loops send decode to the intended fields.
func TestJSONBodyIsTheJSONOfTheFields(t *testing.T) {
	for i := range 6 * 97 {
		q, a := message(i)
		var got map[string]string
		if err := json.Unmarshal(jsonBody("session_id", "3f1c9a2e-0000-4000-8000-00000000abcd", "message", q, "response", a), &got); err != nil {
			t.Fatal(err)
		}
		if got["session_id"] != "3f1c9a2e-0000-4000-8000-00000000abcd" || got["message"] != q || got["response"] != a || len(got) != 3 {
			t.Fatalf("decoded %v", got)
		}
	}
}

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/http/api"
)

// A session filled within the documented caps exports a state_dict larger
// than SEMVEC_MAX_BODY_BYTES (4 MiB: 256 entities of the longest value and
// context, '<' written by Go as \u003c); the import route takes up to twice
// the longest export, so it imports back, as sent by the Go client and as
// Python's json sends it (every non-ASCII character escaped: 😀 is
// "\ud83d\ude00"). Any other route keeps the 4 MiB limit.
func TestAFullExportImportsBack(t *testing.T) {
	// Importing 5 MB takes a few seconds under -race on a busy machine
	// (well under one without): past the harness's 5 s ask timeout.
	dbPath := t.TempDir() + "/import.db"
	e := newEnv(t, "sqlite:///"+dbPath, map[string]string{"SEMVEC_ASK_TIMEOUT": "60s"})
	c := e.api(e.token("importer", semvec.TierEnterprise))
	ctx := context.Background()
	dim := 384
	created, err := c.CreateSession(ctx, api.SessionCreateBody{Dimension: &dim})
	noErr(t, err)
	sid := created.SessionID
	value, note := strings.Repeat("<", 2000), strings.Repeat("😀&", 500)
	for i := range 256 {
		_, err := c.PutEntity(ctx, sid, api.EntityBody{Key: "k" + strconv.Itoa(i), Kind: "path", Value: value, Context: note})
		noErr(t, err)
	}
	exp, err := c.ExportSession(ctx, sid)
	noErr(t, err)
	if len(exp.StateDict) <= 4<<20 {
		t.Fatalf("the export is %d bytes: not past the body limit, the test proves nothing", len(exp.StateDict))
	}
	_, err = c.ImportSession(ctx, sid, api.ImportBody{StateDict: exp.StateDict})
	noErr(t, err)

	var ascii strings.Builder // the state_dict as Python's json.dumps writes it
	for _, r := range string(exp.StateDict) {
		if r < 0x80 {
			ascii.WriteRune(r)
			continue
		}
		units := []uint16{uint16(r)}
		if r > 0xFFFF {
			hi, lo := utf16.EncodeRune(r)
			units = []uint16{uint16(hi), uint16(lo)}
		}
		for _, u := range units {
			ascii.WriteString(`\u` + strconv.FormatUint(uint64(u)|0x10000, 16)[1:])
		}
	}
	body := `{"state_dict":` + ascii.String() + `,"checksum":"` + exp.Checksum + `"}`
	if r := e.as(e.token("importer", semvec.TierEnterprise), "POST", "/v1/session/"+sid+"/import", json.RawMessage(body)); r.Status != 200 {
		t.Fatalf("a re-encoded export of %d bytes: %d %s", len(body), r.Status, r.Body)
	}
	// A payload that is refused is refused before it is logged: a 5 MB
	// tampered export (and one to an unknown session: 404) writes nothing.
	logged := func() (n int) {
		t.Helper()
		db, err := sql.Open(sqliteshim.ShimName, "file:"+dbPath+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow(`SELECT count(*) FROM session_log`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := logged()
	tampered := `{"state_dict":` + strings.Replace(string(exp.StateDict), `"turn":`, `"turn":1`, 1) + `}`
	tok := e.token("importer", semvec.TierEnterprise)
	if r := e.as(tok, "POST", "/v1/session/"+sid+"/import", json.RawMessage(tampered)); r.Status != 400 {
		t.Fatalf("a tampered export: %d %.300s, want 400", r.Status, r.Body)
	}
	if r := e.as(tok, "POST", "/v1/session/no-such-session/import", json.RawMessage(tampered)); r.Status != 404 {
		t.Fatalf("an import to an unknown session: %d %.300s, want 404", r.Status, r.Body)
	}
	if after := logged(); after != before {
		t.Fatalf("refused imports logged %d entries", after-before)
	}
	if r := e.as(e.token("importer", semvec.TierEnterprise), "POST", "/v1/run", json.RawMessage(`{"message":"`+strings.Repeat("x", 5<<20)+`"}`)); r.Status != 413 {
		t.Fatalf("a 5 MiB /v1/run: %d, want 413", r.Status)
	}
}

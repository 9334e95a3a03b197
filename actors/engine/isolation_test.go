package engine

import (
	"bytes"
	"testing"
)

const spam = "Buy cheap crypto coins now, limited offer, click the link"

func TestIsolationFilter(t *testing.T) {
	s := newTestSession(t)
	converse(t, s, k8sConversation[:3], "", 0)
	if err := s.SetIsolation(IsolationPolicy{Level: LevelFilter, Exclusion: [][]float32{emb(spam)}, Threshold: 0.7}); err != nil {
		t.Fatal(err)
	}
	turn, mems := s.Turn(), s.TotalMemories()
	state := s.StateVector()
	res := run(t, s, spam, k8sConversation[2].A, 3)
	if res.Isolation != VerdictFiltered || res.Turn != turn || res.Context == "" {
		t.Fatalf("filtered: %+v", res)
	}
	// The response answered the (accepted) previous question: it is stored.
	if s.TotalMemories() != mems+1 || s.Turn() != turn || cos(state, s.state) < 0.999999 {
		t.Fatalf("filtered message changed the state or was stored: mem %d turn %d", s.TotalMemories(), s.Turn())
	}
	// The answer to the filtered message is discarded.
	res = run(t, s, k8sConversation[3].Q, "Here is the link to the coins.", 4)
	if res.Isolation != "" || s.TotalMemories() != mems+1 {
		t.Fatalf("answer to a filtered message was stored: %d", s.TotalMemories())
	}
	if _, ok := s.Memory(hashText("A: Here is the link to the coins.")); ok {
		t.Fatal("answer to a filtered message was stored")
	}
	if got := s.Isolation(); got.Level != LevelFilter || got.Threshold != 0.7 || len(got.Exclusion) != 1 {
		t.Fatalf("policy: %+v", got)
	}
}

func TestIsolationAllowlist(t *testing.T) {
	s := newTestSession(t)
	s.SetIsolation(IsolationPolicy{Level: LevelFilter, Allowlist: [][]float32{emb("kubernetes deployment pods")}, Threshold: 0.3})
	if res := run(t, s, "kubernetes deployment pods are failing", "", 0); res.Isolation != "" {
		t.Fatalf("allowed message stopped: %s", res.Isolation)
	}
	if res := run(t, s, "what flour for sourdough bread", "", 1); res.Isolation != VerdictFiltered {
		t.Fatalf("message outside the allowlist passed")
	}
}

func TestIsolationQuarantineAndRelease(t *testing.T) {
	s := newTestSession(t)
	run(t, s, k8sConversation[0].Q, "", 0)
	s.SetIsolation(IsolationPolicy{Level: LevelQuarantine, Exclusion: [][]float32{emb(spam)}, Threshold: 0.7})
	res := run(t, s, spam, k8sConversation[0].A, 1)
	if res.Isolation != VerdictQuarantined || s.QuarantineCount() != 1 {
		t.Fatalf("quarantine: %+v", res)
	}
	// The answer to the quarantined message is kept with it.
	run(t, s, k8sConversation[1].Q, "Coins are risky.", 2)
	if s.shadow[0].answer != "Coins are risky." {
		t.Fatalf("shadow answer %q", s.shadow[0].answer)
	}
	turn := s.Turn()
	if n := s.ReleaseQuarantine(t0); n != 1 || s.QuarantineCount() != 0 {
		t.Fatalf("released %d", n)
	}
	if s.Turn() != turn+1 {
		t.Fatalf("release did not fold the message: turn %d", s.Turn())
	}
	if _, ok := s.Memory(hashText(qaText(spam, "Coins are risky."))); !ok {
		t.Fatal("released Q&A not stored")
	}
	if s.ReleaseQuarantine(t0) != 0 {
		t.Fatal("second release")
	}
	// The shadow buffer is bounded.
	cfg := DefaultConfig(testDim)
	cfg.ShadowCap = 2
	s = New(cfg)
	s.SetIsolation(IsolationPolicy{Level: LevelQuarantine, Exclusion: [][]float32{emb(spam)}, Threshold: 0.5})
	for i := range 5 {
		run(t, s, spam+" "+string(rune('a'+i)), "", i)
	}
	if s.QuarantineCount() != 2 || s.shadow[1].text != spam+" e" {
		t.Fatalf("shadow %d", s.QuarantineCount())
	}
}

func TestIsolationLockdownIsReadOnly(t *testing.T) {
	s := newTestSession(t)
	converse(t, s, k8sConversation[:3], "", 0)
	s.SetIsolation(IsolationPolicy{Level: LevelLockdown})
	before := frozen(t, s)
	res := run(t, s, k8sConversation[3].Q, k8sConversation[2].A, 3)
	if res.Isolation != VerdictBlocked || res.Context == "" || res.Turn != 3 {
		t.Fatalf("lockdown: %+v", res)
	}
	if total, stored, _ := s.Store("late answer", emb("late answer"), t0); total != 2 || stored {
		t.Fatalf("store under lockdown: %d memories, stored %v, want it dropped", total, stored)
	}
	// Only the "next response belongs to a blocked message" marker changed.
	if s.blocked != blockDropped {
		t.Fatalf("blocked marker %q", s.blocked)
	}
	s.blocked = blockNone
	if !bytes.Equal(frozen(t, s), before) {
		t.Fatal("lockdown changed the session")
	}
	s.SetIsolation(IsolationPolicy{Level: LevelOpen})
	if res := run(t, s, k8sConversation[3].Q, "", 3); res.Isolation != "" || res.Turn != 3 {
		t.Fatalf("after lockdown: %+v", res)
	}
}

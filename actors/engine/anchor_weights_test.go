package engine

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/semvec-go/semvec"
)

// An anchor's weight is its share in the anchor score (the weighted mean
// of the state's cosines) and in the anchor centroid (the weighted mean of
// the unit anchors); anchors all of one weight act as unweighted ones.
func TestWeightedAnchors(t *testing.T) {
	a := emb("kubernetes deployment pods replicas rollout kubectl service")
	b := emb("sourdough bread flour dough proofing oven crust")
	weighted, plain := newTestSession(t), newTestSession(t)
	if _, err := weighted.AddWeightedAnchor(a, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := weighted.AddAnchor(b); err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]float32{a, b} {
		if _, err := plain.AddAnchor(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Session{weighted, plain} {
		run(t, s, "How do I roll out a new deployment with kubectl?", "", 0)
	}
	ca, cb := cos(weighted.state, a), cos(weighted.state, b)
	if got, want := weighted.AnchorScore().Score, (3*ca+cb)/4; math.Abs(got-want) > 1e-9 {
		t.Fatalf("weighted score %v, want %v", got, want)
	}
	if got, want := plain.AnchorScore().Score, (cos(plain.state, a)+cos(plain.state, b))/2; math.Abs(got-want) > 1e-9 {
		t.Fatalf("unweighted score %v, want %v", got, want)
	}
	// the centroid leans towards the heavier anchor
	if cos(weighted.anchorCentroid, a) <= cos(plain.anchorCentroid, a) {
		t.Fatalf("centroid: cos to the heavier anchor %v, unweighted %v", cos(weighted.anchorCentroid, a), cos(plain.anchorCentroid, a))
	}
	// every weight 2 is every weight 1
	same := newTestSession(t)
	for _, v := range [][]float32{a, b} {
		if _, err := same.AddWeightedAnchor(v, 2); err != nil {
			t.Fatal(err)
		}
	}
	for i := range plain.anchorCentroid {
		if math.Abs(float64(same.anchorCentroid[i]-plain.anchorCentroid[i])) > 1e-6 {
			t.Fatal("anchors of one weight moved the centroid")
		}
	}
	for _, w := range []float64{0, -1, MaxAnchorWeight + 1, math.NaN(), math.Inf(1)} {
		if _, err := plain.AddWeightedAnchor(a, w); semvec.KindOf(err) != semvec.KindValidation {
			t.Errorf("weight %v: %v, want a validation error", w, err)
		}
	}
}

// Weights survive export and import, checkpoint and restore, byte for
// byte; a session without weights other than 1 exports none (as before
// weights existed), and an import with weights that do not fit its anchors
// is refused.
func TestAnchorWeightsRoundTrip(t *testing.T) {
	s := newTestSession(t)
	if _, err := s.AddAnchor(emb("alpha beta gamma")); err != nil {
		t.Fatal(err)
	}
	d, _, err := s.Export()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(d), "anchor_weights") {
		t.Fatal("weights exported with every weight 1")
	}
	if _, err := s.AddWeightedAnchor(emb("delta epsilon"), 1.5); err != nil {
		t.Fatal(err)
	}
	run(t, s, "alpha and delta", "", 0)
	d, _, err = s.Export()
	if err != nil || !strings.Contains(string(d), `"anchor_weights":[1,1.5]`) {
		t.Fatalf("export %v: no weights in it", err)
	}
	s2, err := Import(d)
	if err != nil {
		t.Fatal(err)
	}
	if d2, _, _ := s2.Export(); !bytes.Equal(d, d2) || s2.AnchorScore() != s.AnchorScore() {
		t.Fatal("weights changed across export and import")
	}
	bin, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	s3, err := UnmarshalBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	if d3, _, _ := s3.Export(); !bytes.Equal(d, d3) {
		t.Fatal("weights changed across a checkpoint")
	}
	for name, edit := range map[string]func(m map[string]any){
		"fewer weights than anchors": func(m map[string]any) { m["anchor_weights"] = []any{1.5} },
		"a weight of 0":              func(m map[string]any) { m["anchor_weights"] = []any{1, 0} },
		"a weight over the bound":    func(m map[string]any) { m["anchor_weights"] = []any{1, MaxAnchorWeight + 1} },
		"every weight 1":             func(m map[string]any) { m["anchor_weights"] = []any{1, 1} },
	} {
		if _, err := Import(resign(t, d, edit)); err == nil {
			t.Errorf("%s: imported", name)
		}
	}
}

// A weight's scale does not matter, however small: the centroid of anchors
// all of weight 1e-200 is theirs at weight 1 (the weighted sum's squared
// norm underflowed to 0, and the centroid was dropped as if the anchors
// cancelled out: no retrieval bias, no realignment pull, while the anchor
// score still counted them).
func TestTinyAnchorWeightsKeepTheCentroid(t *testing.T) {
	a := emb("kubernetes deployment pods replicas rollout kubectl service")
	b := emb("sourdough bread flour dough proofing oven crust")
	for _, w := range []float64{1e-200, 1e-160, 1e-300, 5e-324} {
		tiny, plain := newTestSession(t), newTestSession(t)
		for _, v := range [][]float32{a, b} {
			if _, err := tiny.AddWeightedAnchor(v, w); err != nil {
				t.Fatal(err)
			}
			if _, err := plain.AddAnchor(v); err != nil {
				t.Fatal(err)
			}
		}
		if tiny.anchorCentroid == nil {
			t.Fatalf("weight %v: no anchor centroid", w)
		}
		run(t, tiny, "How do I roll out a new deployment with kubectl?", "", 0)
		run(t, plain, "How do I roll out a new deployment with kubectl?", "", 0)
		if got, want := tiny.AnchorScore().Score, plain.AnchorScore().Score; math.Abs(got-want) > 1e-9 {
			t.Fatalf("weight %v: anchor score %v, at weight 1 %v", w, got, want)
		}
		for i := range plain.anchorCentroid {
			if math.Abs(float64(tiny.anchorCentroid[i]-plain.anchorCentroid[i])) > 1e-6 {
				t.Fatalf("weight %v: centroid moved by the weights' scale", w)
			}
		}
	}
}

package memeval

import (
	"context"
	"math/rand/v2"
	"strings"
)

// Correction is a fact the user tells (Old, holding OldMarker) and, turns
// later, corrects (New, holding NewMarker: "I moved! My address is now …").
// Paraphrase asks for it and holds neither marker.
type Correction struct {
	Old, OldMarker, New, NewMarker, Paraphrase string
}

// corrections are the facts of the corrections set: each told, then
// corrected in another wording. Markers are unique across all sets.
var corrections = []Correction{
	{"My address is 12 Birch Lane, Harlowmere.", "Harlowmere",
		"I moved! My address is now 48 Quarry Road, Stennicombe.", "Stennicombe",
		"What is my address?"},
	{"The on-call engineer for the database this week is Martavell.", "Martavell",
		"Correction: the on-call engineer for the database this week is Tomazrik.", "Tomazrik",
		"Who is on call for the database?"},
	{"My dentist is Dr Hollowfane on Mill Street.", "Hollowfane",
		"I switched dentists, my dentist is now Dr Brevistock near the station.", "Brevistock",
		"Who is my dentist?"},
	{"The team standup is at 9:15 in room Calderwick.", "Calderwick",
		"Update: the team standup moved to 10:00 in room Ospreyvale.", "Ospreyvale",
		"Where is the standup held?"},
	{"My phone number is 0176 5520 Fenwhistle extension.", "Fenwhistle",
		"I got a new phone number: 0151 8834, the Dravenhook extension.", "Dravenhook",
		"What's my phone number?"},
	{"The staging server is called Pemberlux.", "Pemberlux",
		"We renamed the staging server, it is called Quarnivex now.", "Quarnivex",
		"What is the staging server's name?"},
	{"My daughter's football practice is on Tuesdays at Ashcombe field.", "Ashcombe",
		"Football practice for my daughter changed to Thursdays at Brindlemoor field.", "Brindlemoor",
		"When and where is my daughter's football practice?"},
	{"The wifi password at home is Tessaroon.", "Tessaroon",
		"I changed the home wifi password to Vokrisell.", "Vokrisell",
		"What is the wifi password at home?"},
	{"My manager is Elvandra Koss.", "Elvandra",
		"After the reorganisation my manager is Rudmiro Pask.", "Rudmiro",
		"Who do I report to, who is my manager?"},
	{"The book club meets at the Gallowmint cafe.", "Gallowmint",
		"Scratch that, the book club now meets at the Sorrelwick library.", "Sorrelwick",
		"Where does the book club meet?"},
	{"My flight to Oslo leaves from gate Trindle 14.", "Trindle",
		"Gate change: my flight to Oslo now leaves from gate Marbanex 22.", "Marbanex",
		"Which gate is my Oslo flight?"},
	{"The project deadline is March 3rd, code name Halcyrow.", "Halcyrow",
		"The project deadline was pushed to April 10th, code name Zentharo.", "Zentharo",
		"When is the project deadline?"},
	{"My car is a blue Corvanti hatchback.", "Corvanti",
		"I sold the hatchback, my car is now a grey Lupressa estate.", "Lupressa",
		"What car do I drive?"},
	{"The gym locker code is Pellwarden 4410.", "Pellwarden",
		"They reset the gym locker code, it is now Quindrossa 7302.", "Quindrossa",
		"What's the code for my gym locker?"},
	{"Our landlord is Mr Abernoth.", "Abernoth",
		"The flat was sold, our landlord is now Ms Kestravine.", "Kestravine",
		"Who is our landlord?"},
	{"The cat's vet appointment is on Friday with Dr Lumbrecht.", "Lumbrecht",
		"The vet moved the cat's appointment to Monday with Dr Sandovane.", "Sandovane",
		"When is the cat's vet appointment?"},
}

// CorrectionSet is a set of corrections: each fact told by the user
// (answered with an acknowledgement, acks), then, after filler, corrected;
// then each is asked. A hit is the corrected value in the "Relevant
// context:" lines above the stale one (or without it).
type CorrectionSet struct {
	Name  string
	Facts []Correction
	kinds []fillerKind
	seed  uint64
}

// Corrections is the corrections set: 16 facts told and corrected among the
// main set's filler, at random positions (each fact before its correction).
func Corrections() CorrectionSet {
	return CorrectionSet{Name: "corrections", Facts: corrections, kinds: []fillerKind{smallTalkKind, howToKind, triviaKind, lookalikeKind}, seed: 8}
}

// WithSeed returns s with another interleaving and filler draw.
func (s CorrectionSet) WithSeed(seed uint64) CorrectionSet { s.seed = seed; return s }

// Script is the teaching conversation for f filler turns: the 2n statements
// (fact i before its correction) at random positions among the filler, in
// a random order that keeps every fact before its correction.
func (s CorrectionSet) Script(f int) []Turn {
	filler := fillerScript(s.kinds, f, s.seed*1000+uint64(f))
	r := rand.New(rand.NewPCG(s.seed, uint64(f)+1<<32))
	n := len(s.Facts)
	// The order of the 2n statements: j < n is fact j, j >= n its
	// correction, only once fact j-n is out.
	told := make([]bool, n)
	var order []int
	for len(order) < 2*n {
		var ready []int
		for i := range n {
			if !told[i] {
				ready = append(ready, i)
			} else if !contains2(order, n+i) {
				ready = append(ready, n+i)
			}
		}
		j := ready[r.IntN(len(ready))]
		if j < n {
			told[j] = true
		}
		order = append(order, j)
	}
	pos := make([]int, 2*n)
	for i := range pos {
		pos[i] = r.IntN(f + 1)
	}
	for i := 1; i < len(pos); i++ {
		for j := i; j > 0 && pos[j] < pos[j-1]; j-- {
			pos[j], pos[j-1] = pos[j-1], pos[j]
		}
	}
	out := make([]Turn, 0, 2*n+f)
	fi := 0
	for k, j := range order {
		for ; fi < pos[k]; fi++ {
			out = append(out, filler[fi])
		}
		msg := ""
		if j < n {
			msg = s.Facts[j].Old
		} else {
			msg = s.Facts[j-n].New
		}
		out = append(out, Turn{Message: msg, Answer: acks[k%len(acks)]})
	}
	return append(out, filler[fi:]...)
}

func contains2(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// CorrectionResult is the outcome of a corrections set at one filler count.
type CorrectionResult struct {
	Set        string
	Filler     int
	Hits       int // the new value shown above the old one (or alone)
	Found      int // the new value shown at all
	StaleFirst int // both shown, the old one first
	Total      int
	Missed     []string // new markers not a hit
	MaxBlock   int
	OverBudget int
	Blocks     []string
}

// CorrectedFirst reports whether the block's "Relevant context:" lines
// hold newMarker before any oldMarker.
func CorrectedFirst(block, oldMarker, newMarker string) bool {
	rel := RelevantLines(block)
	i := strings.Index(rel, newMarker)
	if i < 0 {
		return false
	}
	j := strings.Index(rel, oldMarker)
	return j < 0 || i < j
}

// EvaluateCorrections teaches s with f filler turns and asks every fact from
// the same saved state, as Evaluate does.
func EvaluateCorrections(ctx context.Context, d Driver, s CorrectionSet, f, budget int) (CorrectionResult, error) {
	res := CorrectionResult{Set: s.Name, Filler: f, Total: len(s.Facts)}
	r := run{d: d, budget: budget}
	if err := r.teach(ctx, s.Name, s.Script(f)); err != nil {
		return res, err
	}
	for _, c := range s.Facts {
		block, err := r.probe(ctx, c.Paraphrase, c.NewMarker)
		if err != nil {
			return res, err
		}
		res.Blocks = append(res.Blocks, block)
		rel := RelevantLines(block)
		hasNew, hasOld := strings.Contains(rel, c.NewMarker), strings.Contains(rel, c.OldMarker)
		if hasNew {
			res.Found++
		}
		if CorrectedFirst(block, c.OldMarker, c.NewMarker) {
			res.Hits++
		} else {
			res.Missed = append(res.Missed, c.NewMarker)
			if hasNew && hasOld {
				res.StaleFirst++
			}
		}
	}
	res.MaxBlock, res.OverBudget = r.maxBlock, r.overBudget
	return res, nil
}

// Package memeval measures whether a session hands the agent the right
// fact: a session learns facts (a question, then an answer holding an
// invented marker word) among filler turns; then each fact is asked as a
// paraphrase sharing only one to three content words with the question, and
// a hit is the marker appearing in the "Relevant context:" lines of the
// /v1/run context block.
//
// The same script runs through the engine (EngineDriver) or a live server
// (HTTPDriver); with the same embedder and configuration both give the same
// context blocks. cmd/memeval prints the table of docs/sessions.md.
package memeval

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode/utf8"

	"github.com/semvec-go/semvec/actors/engine"
)

// Set is a fact set with its filler and interleaving.
type Set struct {
	Name  string
	Facts []Fact
	// filler kinds, cycled; seed makes the script deterministic.
	kinds []fillerKind
	seed  uint64
	// random: facts at random positions among the filler (held out);
	// otherwise evenly spaced.
	random bool
	// inject: the tier facts are injected into (their answer, a statement
	// without a Q:/A: prefix, stored as POST /v1/session/{id}/memory does);
	// "" teaches each fact as a question and its answer in one turn.
	inject string
	// told: the user states each fact (its answer, a statement) and the
	// assistant only acknowledges it (acks, cycled): the information is in
	// the message, not in the answer.
	told bool
}

// Main is the tuning set: 30 facts, six domains, small talk, how-to and
// trivia filler, facts evenly spaced.
func Main() Set {
	return Set{Name: "main", Facts: mainFacts, kinds: []fillerKind{smallTalkKind, howToKind, triviaKind, lookalikeKind}, seed: 1}
}

// HeldOut is the set nothing was tuned on: 24 facts from four other
// domains, rambling, code and news filler, facts at random positions.
func HeldOut() Set {
	return Set{Name: "held-out", Facts: heldOutFacts, kinds: []fillerKind{rambleKind, codeKind, newsKind, smallTalkKind, lookalikeKind}, seed: 2, random: true}
}

// Facts taught by injection: each fact's answer, a statement without a
// "Q: "/"A: " prefix, stored into long term as POST /v1/session/{id}/memory
// (MCP remember) does, with the default importance, at random positions
// among filler turns; the probes are the facts' paraphrases. The repro of
// an outside report: a fact injected into a long-term cluster whose text was
// full used to be dropped while its key still moved the centroid.

// InjectedMain is the main set's facts injected among the main set's filler.
func InjectedMain() Set {
	return Set{Name: "injected main", Facts: mainFacts, kinds: []fillerKind{smallTalkKind, howToKind, triviaKind, lookalikeKind}, seed: 3, random: true, inject: engine.TierLongTerm}
}

// InjectedHeldOut is the held-out set's facts injected among the held-out
// set's filler.
func InjectedHeldOut() Set {
	return Set{Name: "injected held-out", Facts: heldOutFacts, kinds: []fillerKind{rambleKind, codeKind, newsKind, smallTalkKind, lookalikeKind}, seed: 4, random: true, inject: engine.TierLongTerm}
}

// InjectedLookAlikes is 12 facts that differ in two words only (the on-call
// engineer of 12 services, one sentence), injected among the main set's
// filler: each is similar enough to the others to join their cluster.
func InjectedLookAlikes() Set {
	return Set{Name: "injected look-alikes", Facts: lookAlikeFacts, kinds: []fillerKind{smallTalkKind, howToKind, triviaKind, lookalikeKind}, seed: 5, random: true, inject: engine.TierLongTerm}
}

// Facts the user tells the assistant ("remember that …"): each fact's
// answer is the user's message and the assistant's answer is a short
// acknowledgement holding nothing new. The probes are the facts'
// paraphrases, as for the other sets.

// ToldMain is the main set's facts told by the user among the main set's
// filler, evenly spaced.
func ToldMain() Set {
	return Set{Name: "told main", Facts: mainFacts, kinds: []fillerKind{smallTalkKind, howToKind, triviaKind, lookalikeKind}, seed: 6, told: true}
}

// ToldHeldOut is the held-out set's facts told by the user among the
// held-out set's filler, at random positions.
func ToldHeldOut() Set {
	return Set{Name: "told held-out", Facts: heldOutFacts, kinds: []fillerKind{rambleKind, codeKind, newsKind, smallTalkKind, lookalikeKind}, seed: 7, random: true, told: true}
}

// ToldSets returns the sets whose facts the user tells.
func ToldSets() []Set { return []Set{ToldMain(), ToldHeldOut()} }

// acks are the assistant's acknowledgements of a told fact, cycled.
var acks = []string{"Noted.", "Got it, I'll remember that.", "Okay, thanks for letting me know.", "Sure, noted for later.", "Understood."}

// InjectedSets returns the sets taught by injection. Their markers repeat
// those of Sets (but for the look-alikes).
func InjectedSets() []Set { return []Set{InjectedMain(), InjectedHeldOut(), InjectedLookAlikes()} }

// Sets returns every set.
func Sets() []Set { return []Set{Main(), HeldOut()} }

// WithSeed returns s with another interleaving and filler draw (the same
// facts and filler kinds): a check that a difference is not one script's
// noise.
func (s Set) WithSeed(seed uint64) Set { s.seed = seed; return s }

// Subset returns s with only the facts whose index i has i%step == 0.
func (s Set) Subset(step int) Set {
	var fs []Fact
	for i, f := range s.Facts {
		if i%step == 0 {
			fs = append(fs, f)
		}
	}
	s.Facts = fs
	return s
}

// Script is the teaching conversation for f filler turns: each fact's
// question and answer as one turn, interleaved with the filler.
func (s Set) Script(f int) []Turn {
	filler := fillerScript(s.kinds, f, s.seed*1000+uint64(f))
	n := len(s.Facts)
	// pos[i]: how many filler turns precede fact i.
	pos := make([]int, n)
	if s.random {
		r := rand.New(rand.NewPCG(s.seed, uint64(f)))
		for i := range pos {
			pos[i] = r.IntN(f + 1)
		}
		// Facts keep their order; positions sorted.
		for i := 1; i < n; i++ {
			for j := i; j > 0 && pos[j] < pos[j-1]; j-- {
				pos[j], pos[j-1] = pos[j-1], pos[j]
			}
		}
	} else {
		for i := range pos {
			pos[i] = (i + 1) * f / (n + 1)
		}
	}
	out := make([]Turn, 0, n+f)
	fi := 0
	for i, fact := range s.Facts {
		for ; fi < pos[i]; fi++ {
			out = append(out, filler[fi])
		}
		switch {
		case s.inject != "":
			out = append(out, Turn{Message: fact.Answer, Inject: s.inject})
		case s.told:
			out = append(out, Turn{Message: fact.Answer, Answer: acks[i%len(acks)]})
		default:
			out = append(out, Turn{Message: fact.Question, Answer: fact.Answer})
		}
	}
	return append(out, filler[fi:]...)
}

// Driver is a session the harness talks to.
type Driver interface {
	// Run sends one turn (message, with the answer to the previous
	// message as response; "" for none) and returns the context block.
	Run(ctx context.Context, message, response string) (string, error)
	// Export returns the session's state; Import restores it.
	Export(ctx context.Context) ([]byte, error)
	Import(ctx context.Context, state []byte) error
}

// Injector is a Driver that can store a memory directly, as POST
// /v1/session/{id}/memory (MCP remember) does, with the default importance.
type Injector interface {
	Inject(ctx context.Context, text, tier string) error
}

// Result is the outcome of one set at one filler count.
type Result struct {
	Set        string
	Filler     int
	Hits       int
	Total      int
	Missed     []string // markers not found
	Lost       []string // missed markers found nowhere in the exported state
	MaxBlock   int      // longest context block, in characters
	OverBudget int      // turns whose block exceeded the budget
	Blocks     []string // the probes' context blocks, in fact order
}

// Evaluate teaches s with f filler turns, then asks every paraphrase from
// the same saved state (each probe is independent: the state is restored
// before each), carrying the answer to the last taught message. budget is
// the session's context budget: every block (teaching and probes) is
// checked against it.
func Evaluate(ctx context.Context, d Driver, s Set, f, budget int) (Result, error) {
	res := Result{Set: s.Name, Filler: f, Total: len(s.Facts)}
	r := run{d: d, budget: budget}
	if err := r.teach(ctx, s.Name, s.Script(f)); err != nil {
		return res, err
	}
	for _, fact := range s.Facts {
		block, err := r.probe(ctx, fact.Paraphrase, fact.Marker)
		if err != nil {
			return res, err
		}
		res.Blocks = append(res.Blocks, block)
		if Hit(block, fact.Marker) {
			res.Hits++
		} else {
			res.Missed = append(res.Missed, fact.Marker)
			if !bytes.Contains(r.state, []byte(fact.Marker)) {
				res.Lost = append(res.Lost, fact.Marker)
			}
		}
	}
	res.MaxBlock, res.OverBudget = r.maxBlock, r.overBudget
	return res, nil
}

// run is one evaluation's session: it is taught a script, its state saved,
// then probed from that state; every context block is checked against the
// budget.
type run struct {
	d                    Driver
	budget               int
	maxBlock, overBudget int
	prev                 string // the answer to the last taught message
	state                []byte // the session's export once taught
}

func (r *run) check(block string) {
	n := utf8.RuneCountInString(block)
	r.maxBlock = max(r.maxBlock, n)
	if n > r.budget {
		r.overBudget++
	}
}

// teach plays script (set names it in errors), then saves the state.
func (r *run) teach(ctx context.Context, set string, script []Turn) error {
	for i, t := range script {
		if t.Inject != "" {
			in, ok := r.d.(Injector)
			if !ok {
				return fmt.Errorf("set %s injects memories: the driver cannot", set)
			}
			if err := in.Inject(ctx, t.Message, t.Inject); err != nil {
				return fmt.Errorf("turn %d (inject): %w", i, err)
			}
			continue // the answer to the last message is still to come
		}
		block, err := r.d.Run(ctx, t.Message, r.prev)
		if err != nil {
			return fmt.Errorf("turn %d: %w", i, err)
		}
		r.check(block)
		r.prev = t.Answer
	}
	state, err := r.d.Export(ctx)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	r.state = state
	return nil
}

// probe restores the taught state and asks question (marker names it in
// errors), returning the context block.
func (r *run) probe(ctx context.Context, question, marker string) (string, error) {
	if err := r.d.Import(ctx, r.state); err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	block, err := r.d.Run(ctx, question, r.prev)
	if err != nil {
		return "", fmt.Errorf("probe %q: %w", marker, err)
	}
	r.check(block)
	return block, nil
}

// Hit reports whether marker appears in the "Relevant context:" lines of
// a context block.
func Hit(block, marker string) bool {
	return strings.Contains(RelevantLines(block), marker)
}

// RelevantLines returns the lines of the "Relevant context:" section.
func RelevantLines(block string) string {
	_, rest, ok := strings.Cut(block, "\nRelevant context:")
	if !ok {
		return ""
	}
	for _, end := range []string{"\nCode entities:", "\nPrevious answer:"} {
		if i := strings.Index(rest, end); i >= 0 {
			rest = rest[:i]
		}
	}
	return rest
}

// Command memeval measures how often a session hands back a fact it was
// taught, after 0, 60, 120 and 300 filler turns (see package memeval).
//
//	go run ./cmd/memeval                  # default configuration, both sets
//	go run ./cmd/memeval -ablation        # each memory change alone and left out
//	go run ./cmd/memeval -url http://127.0.0.1:8080 -token $TOKEN   # a live server
//
// A second table gives the sets taught by injection (POST
// /v1/session/{id}/memory into long term) under the default configuration
// (-injected=false leaves it out), and a third the sets whose facts the user
// tells and the assistant only acknowledges (-told=false), and a line for
// the corrections set (-corrections=false; see memeval.Corrections). -seeds n
// prints instead every set's hits summed over n other interleavings. They embed with the built-in embedder:
// with -url, the server must use it too.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/semvec-go/semvec/actors/engine"
	"github.com/semvec-go/semvec/actors/engine/memeval"
	"github.com/semvec-go/semvec/vecmath/embed"
)

func main() {
	fillers := flag.String("filler", "0,60,120,300", "filler turn counts, comma-separated")
	url := flag.String("url", "", "run against this server's REST API instead of the engine in process")
	token := flag.String("token", "", "API key for -url")
	verbose := flag.Bool("v", false, "list the missed markers")
	ablation := flag.Bool("ablation", false, "also measure the memory policy off, each part alone and each part left out")
	injected := flag.Bool("injected", true, "also measure the sets taught by injection, default configuration")
	told := flag.Bool("told", true, "also measure the sets whose facts the user tells (the assistant only acknowledges), default configuration")
	corr := flag.Bool("corrections", true, "also measure the corrections set (a fact told, then corrected: the new value must show above the old), default configuration")
	seeds := flag.Int("seeds", 0, "instead of the tables, total every set's hits over this many other interleavings and filler draws (seeds 101, 102, …)")
	flag.Parse()
	var fs []int
	for _, f := range strings.Split(*fillers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "memeval: -filler: bad count %q\n", f)
			os.Exit(2)
		}
		fs = append(fs, n)
	}
	ctx := context.Background()
	emb := embed.NewHashing(embed.DefaultDim)
	if *seeds > 0 {
		if *url != "" {
			fatal(fmt.Errorf("-seeds runs the engine in process; it cannot be combined with -url"))
		}
		seedTotals(ctx, emb, fs, *seeds)
		return
	}
	variants := []variant{{"default (all five)", engine.DefaultConfig(emb.Dim())}}
	if *ablation {
		if *url != "" {
			fatal(fmt.Errorf("-ablation runs the engine in process; it cannot be combined with -url"))
		}
		variants = ablations(emb.Dim())
	}
	// driver is a fresh session: on the server at -url, else the engine in
	// process with cfg.
	driver := func(cfg engine.Config) memeval.Driver {
		if *url == "" {
			return memeval.NewEngineDriver(cfg, emb)
		}
		hd := &memeval.HTTPDriver{Base: *url, Token: *token, Embedder: emb}
		if err := hd.CreateSession(ctx, nil); err != nil {
			fatal(err)
		}
		return hd
	}
	table := func(variants []variant, sets []memeval.Set) {
		fmt.Printf("| configuration | set |")
		for _, f := range fs {
			fmt.Printf(" F=%d |", f)
		}
		fmt.Printf(" max block / budget |\n|---|---|%s---|\n", strings.Repeat("---|", len(fs)))
		for _, v := range variants {
			for _, set := range sets {
				fmt.Printf("| %s | %s (%d) |", v.name, set.Name, len(set.Facts))
				maxBlock := 0
				var missed []string
				for _, f := range fs {
					r, err := memeval.Evaluate(ctx, driver(v.cfg), set, f, v.cfg.ContextBudgetChars)
					if err != nil {
						fatal(err)
					}
					if r.OverBudget > 0 {
						fatal(fmt.Errorf("%s F=%d: %d context blocks over the budget", set.Name, f, r.OverBudget))
					}
					maxBlock = max(maxBlock, r.MaxBlock)
					fmt.Printf(" %d |", r.Hits)
					missed = append(missed, fmt.Sprintf("F=%d: %v (not stored: %v)", f, r.Missed, r.Lost))
				}
				fmt.Printf(" %d / %d |\n", maxBlock, v.cfg.ContextBudgetChars)
				if *verbose {
					fmt.Fprintf(os.Stderr, "%s %s missed: %s\n", v.name, set.Name, strings.Join(missed, "; "))
				}
			}
		}
	}
	table(variants, memeval.Sets())
	if *injected {
		fmt.Println()
		table([]variant{{"default (all five)", engine.DefaultConfig(emb.Dim())}}, memeval.InjectedSets())
	}
	if *told {
		fmt.Println()
		table([]variant{{"default (all five)", engine.DefaultConfig(emb.Dim())}}, memeval.ToldSets())
	}
	if *corr {
		fmt.Println()
		cfg := engine.DefaultConfig(emb.Dim())
		set := memeval.Corrections()
		fmt.Printf("| set | hits: corrected value above the stale one (found at all, stale first) |")
		fmt.Printf("\n|---|---|\n| %s (%d) |", set.Name, len(set.Facts))
		var missed []string
		for _, f := range fs {
			r, err := memeval.EvaluateCorrections(ctx, driver(cfg), set, f, cfg.ContextBudgetChars)
			if err != nil {
				fatal(err)
			}
			if r.OverBudget > 0 {
				fatal(fmt.Errorf("%s F=%d: %d context blocks over the budget", set.Name, f, r.OverBudget))
			}
			fmt.Printf(" F=%d: %d (%d, %d) |", f, r.Hits, r.Found, r.StaleFirst)
			missed = append(missed, fmt.Sprintf("F=%d: %v", f, r.Missed))
		}
		fmt.Println()
		if *verbose {
			fmt.Fprintf(os.Stderr, "corrections missed: %s\n", strings.Join(missed, "; "))
		}
	}
}

// seedTotals prints, per set, the hits summed over n seeds and the filler
// counts fs, default configuration.
func seedTotals(ctx context.Context, emb *embed.Hashing, fs []int, n int) {
	cfg := engine.DefaultConfig(emb.Dim())
	sets := append(append(memeval.Sets(), memeval.InjectedSets()...), memeval.ToldSets()...)
	fmt.Printf("| set | hits over %d seeds × F=%v |\n|---|---|\n", n, fs)
	for _, set := range sets {
		hits, total := 0, 0
		for k := range n {
			for _, f := range fs {
				r, err := memeval.Evaluate(ctx, memeval.NewEngineDriver(cfg, emb), set.WithSeed(uint64(101+k)), f, cfg.ContextBudgetChars)
				if err != nil {
					fatal(err)
				}
				hits, total = hits+r.Hits, total+r.Total
			}
		}
		fmt.Printf("| %s | %d / %d |\n", set.Name, hits, total)
	}
	hits, found, stale, total := 0, 0, 0, 0
	for k := range n {
		for _, f := range fs {
			r, err := memeval.EvaluateCorrections(ctx, memeval.NewEngineDriver(cfg, emb), memeval.Corrections().WithSeed(uint64(101+k)), f, cfg.ContextBudgetChars)
			if err != nil {
				fatal(err)
			}
			hits, found, stale, total = hits+r.Hits, found+r.Found, stale+r.StaleFirst, total+r.Total
		}
	}
	fmt.Printf("| corrections | %d / %d (found %d, stale first %d) |\n", hits, total, found, stale)
}

// ablations: the policy off, each part alone, all five, all but one.
func ablations(dim int) []variant {
	// The five parts of the memory policy, each switched on in a config.
	parts := []struct {
		name string
		on   func(*engine.Config)
	}{
		{"focus line", func(c *engine.Config) { c.FocusLine = true }},
		{"information importance", func(c *engine.Config) { c.InfoImportance = true }},
		{"decaying access", func(c *engine.Config) { c.AccessHalfLife = engine.DefaultAccessHalfLife }},
		{"forget low-value", func(c *engine.Config) { c.ForgetLowValue = true }},
		{"BM25 evidence", func(c *engine.Config) { c.LexicalWeight = engine.DefaultLexicalWeight }},
	}
	off := engine.DefaultConfig(dim).WithoutMemoryPolicy()
	out := []variant{{"none (memory policy off)", off}}
	for _, p := range parts {
		c := off
		p.on(&c)
		out = append(out, variant{"only " + p.name, c})
	}
	out = append(out, variant{"all five (default)", engine.DefaultConfig(dim)})
	for i := range parts {
		c := off
		for j, p := range parts {
			if j != i {
				p.on(&c)
			}
		}
		out = append(out, variant{"all but " + parts[i].name, c})
	}
	return out
}

type variant struct {
	name string
	cfg  engine.Config
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "memeval:", err)
	os.Exit(1)
}

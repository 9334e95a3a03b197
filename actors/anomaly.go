package actors

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Anomaly types reported by the global observer (contract Layer 4).
const (
	AnomalyCrossClusterConvergence = "cross_cluster_convergence"
	AnomalySystemicDrift           = "systemic_drift"
	AnomalyClusterDivergence       = "cluster_divergence"
)

// Thresholds and severities of the anomaly rules (documented in
// docs/layers.md).
const (
	convergenceMinClusters = 3   // clusters sharing one non-initialization phase…
	convergenceMinRegions  = 2   // …across at least this many regions
	convergenceSeverity    = 0.8 // fixed
	systemicDriftShare     = 0.5 // more than this share of observed clusters drifting
	divergenceFactor       = 3.0 // interaction_count more than this × the region average
	divergenceSeverityStep = 0.1 // severity = min(1, 0.1 × ratio): just above 3× → 0.3, ≥10× → 1
	phaseInitialization    = "initialization"
	driftPhaseDrifted      = "drifted"
)

// observedRegion is what one registered region reported in a sample.
type observedRegion struct {
	ID         string
	Clusters   []string
	Window     time.Duration        // vote_window_seconds
	LastEvents map[string]time.Time // latest drift event per cluster
}

// observedCluster is one cluster's backing-session summary in a sample.
type observedCluster struct {
	ID           string
	Phase        string
	Interactions int
	DriftPhase   string // drift phase of the backing session's last turn
}

// observation is one sample: the registered regions that answered and the
// clusters attached to them whose backing session answered.
type observation struct {
	At       time.Time
	Regions  []observedRegion
	Clusters map[string]observedCluster
}

// anomaly is a rule's finding, before the observer stamps id and time.
type anomaly struct {
	Type        string
	Clusters    []string // sorted
	Description string
	Severity    float64
}

// drifting reports whether cluster c shows a drift indicator: its backing
// session's last turn was in the drifted phase, or a region it is attached
// to received a drift event from it within that region's vote window.
func (o observation) drifting(c observedCluster) bool {
	if c.DriftPhase == driftPhaseDrifted {
		return true
	}
	for _, r := range o.Regions {
		if at, ok := r.LastEvents[c.ID]; ok && o.At.Sub(at) <= r.Window && slices.Contains(r.Clusters, c.ID) {
			return true
		}
	}
	return false
}

// detectAnomalies applies the three contract rules to one sample and returns
// its findings, deduplicated by (type, affected clusters) and ordered by
// type, then affected clusters.
//
//   - cross_cluster_convergence: 3 or more clusters whose backing sessions
//     are in the same phase other than "initialization", attached to at
//     least 2 different regions between them. One finding per phase;
//     severity 0.8.
//   - systemic_drift: more than 50 % of the observed clusters show a drift
//     indicator (see drifting). Severity = the drifting share.
//   - cluster_divergence: a cluster's interaction_count is more than 3× the
//     average interaction_count of a region it is attached to (the average
//     over that region's observed clusters, itself included; with fewer
//     than 4 clusters in a region it cannot fire). Severity =
//     min(1, 0.1 × count/average).
func detectAnomalies(o observation) []anomaly {
	var out []anomaly
	out = append(out, convergence(o)...)
	out = append(out, systemicDrift(o)...)
	out = append(out, divergence(o)...)
	return dedupAnomalies(out)
}

func convergence(o observation) []anomaly {
	byPhase := map[string][]string{}
	for id, c := range o.Clusters {
		if c.Phase == "" || c.Phase == phaseInitialization {
			continue
		}
		byPhase[c.Phase] = append(byPhase[c.Phase], id)
	}
	var out []anomaly
	for phase, ids := range byPhase {
		if len(ids) < convergenceMinClusters {
			continue
		}
		regions := map[string]bool{}
		for _, r := range o.Regions {
			for _, cid := range r.Clusters {
				if slices.Contains(ids, cid) {
					regions[r.ID] = true
				}
			}
		}
		if len(regions) < convergenceMinRegions {
			continue
		}
		slices.Sort(ids)
		out = append(out, anomaly{
			Type: AnomalyCrossClusterConvergence, Clusters: ids, Severity: convergenceSeverity,
			Description: fmt.Sprintf("%d clusters across %d regions converged to the %q phase", len(ids), len(regions), phase),
		})
	}
	return out
}

func systemicDrift(o observation) []anomaly {
	n := len(o.Clusters)
	if n == 0 {
		return nil
	}
	var ids []string
	for id, c := range o.Clusters {
		if o.drifting(c) {
			ids = append(ids, id)
		}
	}
	share := float64(len(ids)) / float64(n)
	if !(share > systemicDriftShare) {
		return nil
	}
	slices.Sort(ids)
	return []anomaly{{
		Type: AnomalySystemicDrift, Clusters: ids, Severity: share,
		Description: fmt.Sprintf("%d of %d observed clusters (%.0f%%) show drift", len(ids), n, 100*share),
	}}
}

func divergence(o observation) []anomaly {
	var out []anomaly
	for _, r := range o.Regions {
		var sum float64
		var seen []observedCluster
		for _, cid := range r.Clusters {
			if c, ok := o.Clusters[cid]; ok {
				seen = append(seen, c)
				sum += float64(c.Interactions)
			}
		}
		if len(seen) == 0 || sum <= 0 {
			continue
		}
		avg := sum / float64(len(seen))
		for _, c := range seen {
			ratio := float64(c.Interactions) / avg
			if !(ratio > divergenceFactor) {
				continue
			}
			out = append(out, anomaly{
				Type: AnomalyClusterDivergence, Clusters: []string{c.ID},
				Severity: math.Min(1, divergenceSeverityStep*ratio),
				Description: fmt.Sprintf("cluster %s has %d interactions, %.1f× the average %.1f of region %s",
					c.ID, c.Interactions, ratio, avg, r.ID),
			})
		}
	}
	return out
}

// dedupAnomalies keeps one finding per (type, affected clusters), the most
// severe, and orders them by type, then affected clusters.
func dedupAnomalies(in []anomaly) []anomaly {
	seen := map[string]int{}
	var out []anomaly
	for _, a := range in {
		k := a.Type + "\x00" + strings.Join(a.Clusters, ",")
		if i, ok := seen[k]; ok {
			if a.Severity > out[i].Severity {
				out[i] = a
			}
			continue
		}
		seen[k] = len(out)
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b anomaly) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return slices.Compare(a.Clusters, b.Clusters)
	})
	return out
}

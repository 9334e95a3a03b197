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
	DriftPhase   string    // drift phase of the backing session's last turn
	DriftAt      time.Time // when that turn's drift was computed (zero: never)
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
	// Episode names the condition the finding reports, for the observer's
	// once-per-episode rule (see raiseOnce): "" for systemic_drift (one
	// system-wide condition), the phase for cross_cluster_convergence, the
	// cluster id for cluster_divergence.
	Episode string
}

// episodeKey identifies the condition a finding belongs to.
func (a anomaly) episodeKey() string { return a.Type + "\x00" + a.Episode }

// drifting reports whether cluster c shows a drift indicator, one that is
// still fresh: a region it is attached to received a drift event from it
// within that region's vote window, or its backing session's last turn was
// in the drifted phase and that turn is within the vote window of a region
// it is attached to. An indicator older than every window has expired: a
// cluster that drifted once and was not used since does not drift forever.
func (o observation) drifting(c observedCluster) bool {
	for _, r := range o.Regions {
		if !slices.Contains(r.Clusters, c.ID) {
			continue
		}
		if at, ok := r.LastEvents[c.ID]; ok && o.At.Sub(at) <= r.Window {
			return true
		}
		if c.DriftPhase == driftPhaseDrifted && !c.DriftAt.IsZero() && o.At.Sub(c.DriftAt) <= r.Window {
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
//   - systemic_drift: more than 50 % of the observed clusters show a fresh
//     drift indicator (see drifting). Severity = the drifting share.
//   - cluster_divergence: a cluster's interaction_count is more than 3× the
//     average interaction_count of the OTHER observed clusters of a region
//     it is attached to (so it can fire in a region of 2 clusters; a
//     cluster alone in its region has no baseline and is not reported).
//     Severity = min(1, 0.1 × count/average), and 1 when the others have
//     no interactions at all (any activity is more than 3× none).
//
// Whether a finding is new is the observer's business (raiseOnce).
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
			Type: AnomalyCrossClusterConvergence, Clusters: ids, Severity: convergenceSeverity, Episode: phase,
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
		if len(seen) < 2 {
			continue // no other cluster to compare with
		}
		for _, c := range seen {
			// The baseline is the average of the region's other clusters.
			n := float64(c.Interactions)
			avg := (sum - n) / float64(len(seen)-1)
			if !(n > divergenceFactor*avg) {
				continue
			}
			a := anomaly{Type: AnomalyClusterDivergence, Clusters: []string{c.ID}, Episode: c.ID}
			if avg > 0 {
				ratio := n / avg
				a.Severity = math.Min(1, divergenceSeverityStep*ratio)
				a.Description = fmt.Sprintf("cluster %s has %d interactions, %.1f× the average %.1f of the other clusters of region %s",
					c.ID, c.Interactions, ratio, avg, r.ID)
			} else {
				// Any activity is more than 3× none: the ratio is unbounded.
				a.Severity = 1
				a.Description = fmt.Sprintf("cluster %s has %d interactions; the other clusters of region %s have none",
					c.ID, c.Interactions, r.ID)
			}
			out = append(out, a)
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

// raiseOnce applies the observer's once-per-episode rule to one sample's
// findings. active holds the episode keys of the previous sample's
// findings; a finding whose condition already held then continues that
// episode and is not raised again (even if its affected clusters or
// severity moved), any other starts one and is raised. It returns the
// findings to raise and the keys to remember for the next sample: a
// condition that is absent from a sample has ended, and its next
// occurrence is a new anomaly.
func raiseOnce(active map[string]bool, found []anomaly) (fresh []anomaly, next map[string]bool) {
	next = make(map[string]bool, len(found))
	for _, f := range found {
		k := f.episodeKey()
		if !active[k] && !next[k] {
			fresh = append(fresh, f)
		}
		next[k] = true
	}
	return fresh, next
}

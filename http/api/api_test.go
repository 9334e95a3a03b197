package api

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestSortedKeys: the answers the server once wrote from maps keep their
// keys in sorted order, so their bytes do not change.
func TestSortedKeys(t *testing.T) {
	for _, v := range []any{Health{}, Readiness{}, ReadinessChecks{}, SessionCreated{}, SessionDeleted{}, SessionMetrics{}, Memory{},
		TriggerCount{}, AnchorCount{}, AnchorScore{}, IsolationLevel{}, IsolationReleased{}, MemoryInjected{}, SessionExport{},
		SessionImported{}, SessionVerified{}, EntityStored{}, EntityList{}, EntityRemoved{}, ClusterCreated{}, ClusterDeleted{},
		ClusterStored{}, ClusterFeedback{}, MemberAdded{}, MemberRemoved{}, RegionCreated{}, RegionDeleted{}, ClusterAttached{},
		ClusterDetached{}, ObserverCreated{}, ObserverSummary{}, ObserverSample{}, AnomaliesCleared{}, ObserverRegion{}, Transfer{},
		UserSwitched{}, ActiveUser{}, UserState{}, ConsensusVote{}, Consensus{}, TrustScores{}} {
		rt := reflect.TypeOf(v)
		var keys []string
		for i := range rt.NumField() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			keys = append(keys, name)
		}
		if !slices.IsSorted(keys) {
			t.Errorf("%s: keys %v are not sorted", rt.Name(), keys)
		}
	}
}

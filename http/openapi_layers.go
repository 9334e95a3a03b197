package http

import "github.com/semvec-go/semvec/http/api"

// layerOperations documents the Layer 2–5 routes (clusters, regions, the
// global observer, the network layer). The collection routes are documented
// at the contract's path, with the trailing slash (/v1/cluster/); the server
// answers the same operation without it too (see collection).
func layerOperations() []operation {
	return []operation{
		{Method: "POST", Path: "/v1/cluster/", ID: "createCluster", Tag: "clusters", Summary: "Create a cluster (201); aggregation_mode weighted_average or attention; coupling_factor in [0, 1]; 409 past 1,000 clusters of the caller, or when its backing session would pass the caller's session limit", Status: 201, Body: api.ClusterCreateBody{}, Response: api.ClusterCreated{}, Errors: []int{400, 409}},
		{Method: "GET", Path: "/v1/cluster/", ID: "listClusters", Tag: "clusters", Summary: "List the caller's clusters", Response: []api.ClusterListItem{}},
		{Method: "GET", Path: "/v1/cluster/{id}", ID: "getCluster", Tag: "clusters", Summary: "Cluster state and aggregate vector", Response: api.ClusterState{}, Errors: []int{404}},
		{Method: "DELETE", Path: "/v1/cluster/{id}", ID: "deleteCluster", Tag: "clusters", Summary: "Delete a cluster, its backing session, memberships and region links", Response: api.ClusterDeleted{}, Errors: []int{404}},
		{Method: "POST", Path: "/v1/cluster/{id}/store", ID: "clusterStore", Tag: "clusters", Summary: "Seed a Q&A pair into the shared session", Body: api.ClusterStoreBody{}, Response: api.ClusterStored{}, Errors: []int{404}},
		{Method: "POST", Path: "/v1/cluster/{id}/run", ID: "clusterRun", Tag: "clusters", Summary: "Run a turn on the cluster's shared session (cluster_id == session_id)", Body: api.RunBody{}, Response: api.RunResult{}, Errors: []int{404}},
		{Method: "POST", Path: "/v1/cluster/{id}/feedback", ID: "clusterFeedback", Tag: "clusters", Summary: "Blend the members' aggregate into every initialised member with strength coupling_factor (a request while one runs joins it)", Response: api.ClusterFeedback{}, Errors: []int{404}},
		{Method: "POST", Path: "/v1/cluster/{id}/members", ID: "addMember", Tag: "clusters", Summary: "Add one of the caller's sessions to the cluster; 409 past 1,000 members, past 8 clusters of the session, or for a region's or observer's meta session", Body: api.MemberBody{}, Response: api.MemberAdded{}, Errors: []int{404, 409}},
		{Method: "DELETE", Path: "/v1/cluster/{id}/members/{sid}", ID: "removeMember", Tag: "clusters", Summary: "Remove a member", Response: api.MemberRemoved{}, Errors: []int{404}},

		{Method: "POST", Path: "/v1/region/", ID: "createRegion", Tag: "regions", Summary: "Create a region (201) with its meta-session; 409 past 1,000 regions of the caller, or when its meta-session would pass the caller's session limit", Status: 201, Body: api.RegionCreateBody{}, Response: api.RegionCreated{}, Errors: []int{409}},
		{Method: "GET", Path: "/v1/region/", ID: "listRegions", Tag: "regions", Summary: "List the caller's regions", Response: []api.RegionListItem{}},
		{Method: "GET", Path: "/v1/region/{id}", ID: "getRegion", Tag: "regions", Summary: "Region state, last realignment and recent drift events", Response: api.RegionState{}, Errors: []int{404}},
		{Method: "DELETE", Path: "/v1/region/{id}", ID: "deleteRegion", Tag: "regions", Summary: "Delete a region and its meta-session", Response: api.RegionDeleted{}, Errors: []int{404}},
		{Method: "POST", Path: "/v1/region/{id}/clusters", ID: "attachCluster", Tag: "regions", Summary: "Attach one of the caller's clusters; 409 past 1,000 clusters, or past 8 regions of the cluster", Body: api.AttachBody{}, Response: api.ClusterAttached{}, Errors: []int{404, 409}},
		{Method: "DELETE", Path: "/v1/region/{id}/clusters/{cid}", ID: "detachCluster", Tag: "regions", Summary: "Detach a cluster", Response: api.ClusterDetached{}, Errors: []int{404}},
		{Method: "GET", Path: "/v1/region/{id}/events", ID: "regionEvents", Tag: "regions", Summary: "Recent drift events, newest first (limit 1–1000, default 20)", Query: api.LimitQuery{}, Response: []api.DriftEventItem{}, Errors: []int{404}},

		{Method: "POST", Path: "/v1/observer/", ID: "createObserver", Tag: "observer", Summary: "Create the caller's global observer, or return the existing one (201 either way; created tells which); an empty body means the defaults; 409 when its meta-session would pass the caller's session limit", Status: 201,
			Body: api.ObserverCreateBody{}, Response: api.ObserverCreated{}, Errors: []int{404, 409}},
		{Method: "GET", Path: "/v1/observer/summary", ID: "observerSummary", Tag: "observer", Summary: "Observer state including anomaly_count", Response: api.ObserverSummary{}, Errors: []int{404}},
		{Method: "POST", Path: "/v1/observer/sample", ID: "observerSample", Tag: "observer", Summary: "Take a sample now", Response: api.ObserverSample{}, Errors: []int{404}},
		{Method: "GET", Path: "/v1/observer/anomalies", ID: "listAnomalies", Tag: "observer", Summary: "Recent anomalies, newest first", Query: api.LimitQuery{}, Response: []api.AnomalyItem{}},
		{Method: "DELETE", Path: "/v1/observer/anomalies", ID: "clearAnomalies", Tag: "observer", Summary: "Clear the anomaly log", Response: api.AnomaliesCleared{}},
		{Method: "POST", Path: "/v1/observer/regions", ID: "registerRegion", Tag: "observer", Summary: "Register one of the caller's regions; 409 past 1,000 regions", Body: api.RegionBody{}, Response: api.ObserverRegion{}, Errors: []int{404, 409}},
		{Method: "DELETE", Path: "/v1/observer/regions/{rid}", ID: "unregisterRegion", Tag: "observer", Summary: "Unregister a region", Response: api.ObserverRegion{}, Errors: []int{404}},

		{Method: "POST", Path: "/v1/network/transfer", ID: "transfer", Tag: "network", Summary: "Semantic delta transfer between two of the caller's sessions; 409 for a region's or observer's meta session", Body: api.TransferBody{}, Response: api.Transfer{}, Errors: []int{404, 409}},
		{Method: "POST", Path: "/v1/network/users/switch", ID: "switchUser", Tag: "network", Summary: "Switch user partition (saves the current one, activates the target); 409 past 1,000 partitions", Body: api.SwitchBody{}, Response: api.UserSwitched{}, Errors: []int{403, 409}},
		{Method: "GET", Path: "/v1/network/users/active", ID: "activeUser", Tag: "network", Summary: "Currently active user partition", Response: api.ActiveUser{}, Errors: []int{403}},
		{Method: "POST", Path: "/v1/network/users/{uid}/serialize", ID: "serializeUser", Tag: "network", Summary: "Serialize a user partition", Response: api.UserState{}, Errors: []int{403, 404}},
		{Method: "POST", Path: "/v1/network/consensus", ID: "propose", Tag: "network", Summary: "Propose a consensus vector; the caller's other sessions vote (the proposer does not), weighted by trust; 409 for a region's or observer's meta session as proposer", Body: api.ConsensusBody{}, Response: api.Consensus{}, Errors: []int{404, 409}},
		{Method: "GET", Path: "/v1/network/consensus/trust", ID: "trust", Tag: "network", Summary: "Current trust scores per instance", Response: api.TrustScores{}},
	}
}

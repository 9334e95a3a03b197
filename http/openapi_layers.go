package http

// layerOperations documents the Layer 2–5 routes (clusters, regions, the
// global observer, the network layer). Collection routes answer with and
// without the trailing slash, as FastAPI clients call them either way.
func layerOperations() []operation {
	cluster := obj("cluster_id:string", "name:string", "aggregation_mode:string", "coupling_factor:number")
	region := obj("region_id:string", "name:string", "meta_session_id:string", "consensus_threshold:number", "vote_window_seconds:number")
	event := obj("cluster_id:string", "region_id:string", "session_id:string", "drift_score:number", "drift_phase:string", "timestamp:number")
	anomaly := obj("anomaly_id:string", "timestamp:number", "anomaly_type:string", "affected_cluster_ids:[]string", "description:string", "severity:number")
	var ops []operation
	for _, p := range []string{"/v1/cluster", "/v1/cluster/"} {
		ops = append(ops,
			operation{Method: "POST", Path: p, Tag: "clusters", Summary: "Create a cluster (201); aggregation_mode weighted_average or attention; coupling_factor in [0, 1]", Status: 201, Body: ClusterCreateBody{}, Response: cluster, Errors: []int{400}},
			operation{Method: "GET", Path: p, Tag: "clusters", Summary: "List the caller's clusters", Response: arrayOf(obj("cluster_id:string", "name:string", "member_count:integer"))},
		)
	}
	ops = append(ops,
		operation{Method: "GET", Path: "/v1/cluster/{id}", Tag: "clusters", Summary: "Cluster state and aggregate vector",
			Response: obj("cluster_id:string", "name:string", "member_count:integer", "phase:string", "interaction_count:integer", "total_memories:integer", "aggregation_mode:string", "coupling_factor:number", "aggregate_vector:[]number"), Errors: []int{404}},
		operation{Method: "DELETE", Path: "/v1/cluster/{id}", Tag: "clusters", Summary: "Delete a cluster, its backing session, memberships and region links", Response: obj("cluster_id:string", "deleted:boolean"), Errors: []int{404}},
		operation{Method: "POST", Path: "/v1/cluster/{id}/store", Tag: "clusters", Summary: "Seed a Q&A pair into the shared session", Body: ClusterStoreBody{}, Response: obj("cluster_id:string", "session_id:string", "total_memories:integer"), Errors: []int{404}},
		operation{Method: "POST", Path: "/v1/cluster/{id}/run", Tag: "clusters", Summary: "Run a turn on the cluster's shared session (cluster_id == session_id)", Body: RunBody{}, Response: obj("session_id:string", "context:string", "top_similarity:number", "short_circuit:boolean", "drift_score:number", "drift_detected:boolean", "drift_phase:string"), Errors: []int{404}},
		operation{Method: "POST", Path: "/v1/cluster/{id}/feedback", Tag: "clusters", Summary: "Blend the cluster state into every member with strength coupling_factor", Response: obj("cluster_id:string", "sessions_updated:integer"), Errors: []int{404}},
		operation{Method: "POST", Path: "/v1/cluster/{id}/members", Tag: "clusters", Summary: "Add one of the caller's sessions to the cluster", Body: MemberBody{}, Response: obj("cluster_id:string", "session_id:string", "added:boolean"), Errors: []int{404}},
		operation{Method: "DELETE", Path: "/v1/cluster/{id}/members/{sid}", Tag: "clusters", Summary: "Remove a member", Response: obj("cluster_id:string", "session_id:string", "removed:boolean"), Errors: []int{404}},
	)
	for _, p := range []string{"/v1/region", "/v1/region/"} {
		ops = append(ops,
			operation{Method: "POST", Path: p, Tag: "regions", Summary: "Create a region (201) with its meta-session", Status: 201, Body: RegionCreateBody{}, Response: region},
			operation{Method: "GET", Path: p, Tag: "regions", Summary: "List the caller's regions", Response: arrayOf(obj("region_id:string", "name:string", "cluster_count:integer"))},
		)
	}
	ops = append(ops,
		operation{Method: "GET", Path: "/v1/region/{id}", Tag: "regions", Summary: "Region state, last realignment and recent drift events",
			Response: obj("region_id:string", "name:string", "cluster_count:integer", "meta_session_id:string", "consensus_threshold:number", "vote_window_seconds:number", "recent_drift_events:[]object", "last_realignment:number?"), Errors: []int{404}},
		operation{Method: "DELETE", Path: "/v1/region/{id}", Tag: "regions", Summary: "Delete a region and its meta-session", Response: obj("region_id:string", "deleted:boolean"), Errors: []int{404}},
		operation{Method: "POST", Path: "/v1/region/{id}/clusters", Tag: "regions", Summary: "Attach one of the caller's clusters", Body: AttachBody{}, Response: obj("region_id:string", "cluster_id:string", "added:boolean"), Errors: []int{404}},
		operation{Method: "DELETE", Path: "/v1/region/{id}/clusters/{cid}", Tag: "regions", Summary: "Detach a cluster", Response: obj("region_id:string", "cluster_id:string", "removed:boolean"), Errors: []int{404}},
		operation{Method: "GET", Path: "/v1/region/{id}/events", Tag: "regions", Summary: "Recent drift events, newest first (limit 1–1000, default 20)", Query: limitQuery{}, Response: arrayOf(event), Errors: []int{404}},
	)
	for _, p := range []string{"/v1/observer", "/v1/observer/"} {
		ops = append(ops, operation{Method: "POST", Path: p, Tag: "observer", Summary: "Create the caller's global observer, or return the existing one", Status: 201, Body: ObserverCreateBody{},
			Response: obj("observer_id:string", "registered_regions:integer", "meta_session_id:string", "sample_interval_seconds:number", "created:boolean"), Errors: []int{404}})
	}
	ops = append(ops,
		operation{Method: "GET", Path: "/v1/observer/summary", Tag: "observer", Summary: "Observer state including anomaly_count",
			Response: obj("observer_id:string", "meta_session_id:string", "registered_regions:integer", "total_clusters_observed:integer", "last_sample_at:number?", "anomaly_count:integer", "recent_anomalies:[]object"), Errors: []int{404}},
		operation{Method: "POST", Path: "/v1/observer/sample", Tag: "observer", Summary: "Take a sample now",
			Response: obj("sampled_at:number", "clusters_sampled:integer", "regions_sampled:integer", "sample_duration_ms:number", "new_anomalies:integer", "total_anomalies:integer", "anomalies:[]object"), Errors: []int{404}},
		operation{Method: "GET", Path: "/v1/observer/anomalies", Tag: "observer", Summary: "Recent anomalies, newest first", Query: limitQuery{}, Response: arrayOf(anomaly)},
		operation{Method: "DELETE", Path: "/v1/observer/anomalies", Tag: "observer", Summary: "Clear the anomaly log", Response: obj("cleared:integer")},
		operation{Method: "POST", Path: "/v1/observer/regions", Tag: "observer", Summary: "Register one of the caller's regions", Body: RegionBody{}, Response: obj("observer_id:string", "region_id:string", "registered_regions:integer"), Errors: []int{404}},
		operation{Method: "DELETE", Path: "/v1/observer/regions/{rid}", Tag: "observer", Summary: "Unregister a region", Response: obj("observer_id:string", "region_id:string", "registered_regions:integer"), Errors: []int{404}},
		operation{Method: "POST", Path: "/v1/network/transfer", Tag: "network", Summary: "Semantic delta transfer between two of the caller's sessions", Body: TransferBody{}, Response: obj("source_session_id:string", "target_session_id:string", "delta_norm:number", "max_weight:number"), Errors: []int{404}},
		operation{Method: "POST", Path: "/v1/network/users/switch", Tag: "network", Summary: "Switch user partition (saves the current one, activates the target)", Body: SwitchBody{}, Response: obj("active_user:string", "previous_user:string")},
		operation{Method: "GET", Path: "/v1/network/users/active", Tag: "network", Summary: "Currently active user partition", Response: obj("active_user:string")},
		operation{Method: "POST", Path: "/v1/network/users/{uid}/serialize", Tag: "network", Summary: "Serialize a user partition", Response: obj("user_id:string", "state:object"), Errors: []int{404}},
		operation{Method: "POST", Path: "/v1/network/consensus", Tag: "network", Summary: "Propose a consensus vector; sessions vote weighted by trust", Body: ConsensusBody{}, Response: obj("accepted:boolean", "trust_scores:object"), Errors: []int{404}},
		operation{Method: "GET", Path: "/v1/network/consensus/trust", Tag: "network", Summary: "Current trust scores per instance", Response: obj("trust_scores:object")},
	)
	return ops
}

package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/semvec-go/semvec/http/api"
)

// ---------------------------------------------------------------- infra

// Health is GET /v1/health (no token needed).
func (c *Client) Health(ctx context.Context) (*api.Health, error) {
	return call[api.Health](ctx, c, http.MethodGet, "/v1/health", nil, nil)
}

// Ready is GET /v1/readyz: an *Error with status 503 when the server is
// not ready.
func (c *Client) Ready(ctx context.Context) (*api.Readiness, error) {
	return call[api.Readiness](ctx, c, http.MethodGet, "/v1/readyz", nil, nil)
}

// ---------------------------------------------------------------- sessions

// Run is POST /v1/run: one turn. Without a SessionID it creates a session.
func (c *Client) Run(ctx context.Context, b api.RunBody) (*api.RunResult, error) {
	return call[api.RunResult](ctx, c, http.MethodPost, "/v1/run", nil, b)
}

// Store is POST /v1/store: learn the answer to the session's last message.
func (c *Client) Store(ctx context.Context, b api.StoreBody) (*api.StoreResult, error) {
	return call[api.StoreResult](ctx, c, http.MethodPost, "/v1/store", nil, b)
}

// CreateSession is POST /v1/session/create.
func (c *Client) CreateSession(ctx context.Context, b api.SessionCreateBody) (*api.SessionCreated, error) {
	return call[api.SessionCreated](ctx, c, http.MethodPost, "/v1/session/create", nil, b)
}

// DeleteSession is DELETE /v1/session/{id}.
func (c *Client) DeleteSession(ctx context.Context, id string) (*api.SessionDeleted, error) {
	return call[api.SessionDeleted](ctx, c, http.MethodDelete, "/v1/session/"+seg(id), nil, nil)
}

// SessionMetrics is GET /v1/metrics/{id}.
func (c *Client) SessionMetrics(ctx context.Context, id string) (*api.SessionMetrics, error) {
	return call[api.SessionMetrics](ctx, c, http.MethodGet, "/v1/metrics/"+seg(id), nil, nil)
}

// Context is GET /v1/state/context: the session's memories ranked against
// its state.
func (c *Client) Context(ctx context.Context, q api.ContextQuery) ([]api.ContextItem, error) {
	v := url.Values{"session_id": {q.SessionID}}
	if q.TopK != nil {
		v.Set("top_k", strconv.Itoa(*q.TopK))
	}
	if q.FullFirst {
		v.Set("full_first", "true")
	}
	return list[api.ContextItem](ctx, c, "/v1/state/context", v)
}

// Memory is GET /v1/session/{id}/memories/{hash}: one memory in full.
func (c *Client) Memory(ctx context.Context, id, hash string) (*api.Memory, error) {
	return call[api.Memory](ctx, c, http.MethodGet, "/v1/session/"+seg(id)+"/memories/"+seg(hash), nil, nil)
}

// AddTrigger is POST /v1/session/{id}/trigger.
func (c *Client) AddTrigger(ctx context.Context, id string, b api.TriggerBody) (*api.TriggerCount, error) {
	return call[api.TriggerCount](ctx, c, http.MethodPost, "/v1/session/"+seg(id)+"/trigger", nil, b)
}

// ClearTriggers is DELETE /v1/session/{id}/trigger.
func (c *Client) ClearTriggers(ctx context.Context, id string) (*api.TriggerCount, error) {
	return call[api.TriggerCount](ctx, c, http.MethodDelete, "/v1/session/"+seg(id)+"/trigger", nil, nil)
}

// AddAnchor is POST /v1/session/{id}/anchor.
func (c *Client) AddAnchor(ctx context.Context, id string, b api.AnchorBody) (*api.AnchorCount, error) {
	return call[api.AnchorCount](ctx, c, http.MethodPost, "/v1/session/"+seg(id)+"/anchor", nil, b)
}

// AnchorScore is GET /v1/session/{id}/anchor_score.
func (c *Client) AnchorScore(ctx context.Context, id string) (*api.AnchorScore, error) {
	return call[api.AnchorScore](ctx, c, http.MethodGet, "/v1/session/"+seg(id)+"/anchor_score", nil, nil)
}

// SetIsolation is PUT /v1/session/{id}/isolation.
func (c *Client) SetIsolation(ctx context.Context, id string, b api.IsolationBody) (*api.IsolationLevel, error) {
	return call[api.IsolationLevel](ctx, c, http.MethodPut, "/v1/session/"+seg(id)+"/isolation", nil, b)
}

// ReleaseIsolation is POST /v1/session/{id}/isolation/release.
func (c *Client) ReleaseIsolation(ctx context.Context, id string) (*api.IsolationReleased, error) {
	return call[api.IsolationReleased](ctx, c, http.MethodPost, "/v1/session/"+seg(id)+"/isolation/release", nil, nil)
}

// InjectMemory is POST /v1/session/{id}/memory.
func (c *Client) InjectMemory(ctx context.Context, id string, b api.MemoryBody) (*api.MemoryInjected, error) {
	return call[api.MemoryInjected](ctx, c, http.MethodPost, "/v1/session/"+seg(id)+"/memory", nil, b)
}

// ExportSession is GET /v1/session/{id}/export.
func (c *Client) ExportSession(ctx context.Context, id string) (*api.SessionExport, error) {
	return call[api.SessionExport](ctx, c, http.MethodGet, "/v1/session/"+seg(id)+"/export", nil, nil)
}

// ImportSession is POST /v1/session/{id}/import.
func (c *Client) ImportSession(ctx context.Context, id string, b api.ImportBody) (*api.SessionImported, error) {
	return call[api.SessionImported](ctx, c, http.MethodPost, "/v1/session/"+seg(id)+"/import", nil, b)
}

// VerifySession is POST /v1/session/{id}/verify.
func (c *Client) VerifySession(ctx context.Context, id string, b api.VerifyBody) (*api.SessionVerified, error) {
	return call[api.SessionVerified](ctx, c, http.MethodPost, "/v1/session/"+seg(id)+"/verify", nil, b)
}

// PutEntity is POST /v1/session/{id}/entities: store a verbatim entity.
func (c *Client) PutEntity(ctx context.Context, id string, b api.EntityBody) (*api.EntityStored, error) {
	return call[api.EntityStored](ctx, c, http.MethodPost, "/v1/session/"+seg(id)+"/entities", nil, b)
}

// ListEntities is GET /v1/session/{id}/entities.
func (c *Client) ListEntities(ctx context.Context, id string, q api.EntitiesQuery) (*api.EntityList, error) {
	v := url.Values{}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.MaxResults != nil {
		v.Set("max_results", strconv.Itoa(*q.MaxResults))
	}
	return call[api.EntityList](ctx, c, http.MethodGet, "/v1/session/"+seg(id)+"/entities", v, nil)
}

// DeleteEntity is DELETE /v1/session/{id}/entities/{key}; the key may
// contain "/".
func (c *Client) DeleteEntity(ctx context.Context, id, key string) (*api.EntityRemoved, error) {
	return call[api.EntityRemoved](ctx, c, http.MethodDelete, "/v1/session/"+seg(id)+"/entities/"+keyPath(key), nil, nil)
}

// ---------------------------------------------------------------- clusters

// CreateCluster is POST /v1/cluster/.
func (c *Client) CreateCluster(ctx context.Context, b api.ClusterCreateBody) (*api.ClusterCreated, error) {
	return call[api.ClusterCreated](ctx, c, http.MethodPost, "/v1/cluster/", nil, b)
}

// ListClusters is GET /v1/cluster/.
func (c *Client) ListClusters(ctx context.Context) ([]api.ClusterListItem, error) {
	return list[api.ClusterListItem](ctx, c, "/v1/cluster/", nil)
}

// Cluster is GET /v1/cluster/{id}.
func (c *Client) Cluster(ctx context.Context, id string) (*api.ClusterState, error) {
	return call[api.ClusterState](ctx, c, http.MethodGet, "/v1/cluster/"+seg(id), nil, nil)
}

// DeleteCluster is DELETE /v1/cluster/{id}.
func (c *Client) DeleteCluster(ctx context.Context, id string) (*api.ClusterDeleted, error) {
	return call[api.ClusterDeleted](ctx, c, http.MethodDelete, "/v1/cluster/"+seg(id), nil, nil)
}

// ClusterStore is POST /v1/cluster/{id}/store: seed a Q&A pair.
func (c *Client) ClusterStore(ctx context.Context, id string, b api.ClusterStoreBody) (*api.ClusterStored, error) {
	return call[api.ClusterStored](ctx, c, http.MethodPost, "/v1/cluster/"+seg(id)+"/store", nil, b)
}

// ClusterRun is POST /v1/cluster/{id}/run: a turn on the cluster's session.
func (c *Client) ClusterRun(ctx context.Context, id string, b api.RunBody) (*api.RunResult, error) {
	return call[api.RunResult](ctx, c, http.MethodPost, "/v1/cluster/"+seg(id)+"/run", nil, b)
}

// ClusterFeedback is POST /v1/cluster/{id}/feedback.
func (c *Client) ClusterFeedback(ctx context.Context, id string) (*api.ClusterFeedback, error) {
	return call[api.ClusterFeedback](ctx, c, http.MethodPost, "/v1/cluster/"+seg(id)+"/feedback", nil, nil)
}

// AddMember is POST /v1/cluster/{id}/members.
func (c *Client) AddMember(ctx context.Context, id, sessionID string) (*api.MemberAdded, error) {
	return call[api.MemberAdded](ctx, c, http.MethodPost, "/v1/cluster/"+seg(id)+"/members", nil, api.MemberBody{SessionID: sessionID})
}

// RemoveMember is DELETE /v1/cluster/{id}/members/{sid}.
func (c *Client) RemoveMember(ctx context.Context, id, sessionID string) (*api.MemberRemoved, error) {
	return call[api.MemberRemoved](ctx, c, http.MethodDelete, "/v1/cluster/"+seg(id)+"/members/"+seg(sessionID), nil, nil)
}

// ---------------------------------------------------------------- regions

// CreateRegion is POST /v1/region/.
func (c *Client) CreateRegion(ctx context.Context, b api.RegionCreateBody) (*api.RegionCreated, error) {
	return call[api.RegionCreated](ctx, c, http.MethodPost, "/v1/region/", nil, b)
}

// ListRegions is GET /v1/region/.
func (c *Client) ListRegions(ctx context.Context) ([]api.RegionListItem, error) {
	return list[api.RegionListItem](ctx, c, "/v1/region/", nil)
}

// Region is GET /v1/region/{id}.
func (c *Client) Region(ctx context.Context, id string) (*api.RegionState, error) {
	return call[api.RegionState](ctx, c, http.MethodGet, "/v1/region/"+seg(id), nil, nil)
}

// DeleteRegion is DELETE /v1/region/{id}.
func (c *Client) DeleteRegion(ctx context.Context, id string) (*api.RegionDeleted, error) {
	return call[api.RegionDeleted](ctx, c, http.MethodDelete, "/v1/region/"+seg(id), nil, nil)
}

// AttachCluster is POST /v1/region/{id}/clusters.
func (c *Client) AttachCluster(ctx context.Context, id, clusterID string) (*api.ClusterAttached, error) {
	return call[api.ClusterAttached](ctx, c, http.MethodPost, "/v1/region/"+seg(id)+"/clusters", nil, api.AttachBody{ClusterID: clusterID})
}

// DetachCluster is DELETE /v1/region/{id}/clusters/{cid}.
func (c *Client) DetachCluster(ctx context.Context, id, clusterID string) (*api.ClusterDetached, error) {
	return call[api.ClusterDetached](ctx, c, http.MethodDelete, "/v1/region/"+seg(id)+"/clusters/"+seg(clusterID), nil, nil)
}

// RegionEvents is GET /v1/region/{id}/events: recent drift events, newest first.
func (c *Client) RegionEvents(ctx context.Context, id string, q api.LimitQuery) ([]api.DriftEventItem, error) {
	return list[api.DriftEventItem](ctx, c, "/v1/region/"+seg(id)+"/events", limitQuery(q))
}

// ---------------------------------------------------------------- observer

// CreateObserver is POST /v1/observer/: create the caller's observer or
// return the existing one.
func (c *Client) CreateObserver(ctx context.Context, b api.ObserverCreateBody) (*api.ObserverCreated, error) {
	return call[api.ObserverCreated](ctx, c, http.MethodPost, "/v1/observer/", nil, b)
}

// ObserverSummary is GET /v1/observer/summary.
func (c *Client) ObserverSummary(ctx context.Context) (*api.ObserverSummary, error) {
	return call[api.ObserverSummary](ctx, c, http.MethodGet, "/v1/observer/summary", nil, nil)
}

// ObserverSample is POST /v1/observer/sample.
func (c *Client) ObserverSample(ctx context.Context) (*api.ObserverSample, error) {
	return call[api.ObserverSample](ctx, c, http.MethodPost, "/v1/observer/sample", nil, nil)
}

// Anomalies is GET /v1/observer/anomalies: recent anomalies, newest first.
func (c *Client) Anomalies(ctx context.Context, q api.LimitQuery) ([]api.AnomalyItem, error) {
	return list[api.AnomalyItem](ctx, c, "/v1/observer/anomalies", limitQuery(q))
}

// ClearAnomalies is DELETE /v1/observer/anomalies.
func (c *Client) ClearAnomalies(ctx context.Context) (*api.AnomaliesCleared, error) {
	return call[api.AnomaliesCleared](ctx, c, http.MethodDelete, "/v1/observer/anomalies", nil, nil)
}

// RegisterRegion is POST /v1/observer/regions.
func (c *Client) RegisterRegion(ctx context.Context, regionID string) (*api.ObserverRegion, error) {
	return call[api.ObserverRegion](ctx, c, http.MethodPost, "/v1/observer/regions", nil, api.RegionBody{RegionID: regionID})
}

// UnregisterRegion is DELETE /v1/observer/regions/{rid}.
func (c *Client) UnregisterRegion(ctx context.Context, regionID string) (*api.ObserverRegion, error) {
	return call[api.ObserverRegion](ctx, c, http.MethodDelete, "/v1/observer/regions/"+seg(regionID), nil, nil)
}

// ---------------------------------------------------------------- network

// Transfer is POST /v1/network/transfer.
func (c *Client) Transfer(ctx context.Context, b api.TransferBody) (*api.Transfer, error) {
	return call[api.Transfer](ctx, c, http.MethodPost, "/v1/network/transfer", nil, b)
}

// SwitchUser is POST /v1/network/users/switch.
func (c *Client) SwitchUser(ctx context.Context, userID string) (*api.UserSwitched, error) {
	return call[api.UserSwitched](ctx, c, http.MethodPost, "/v1/network/users/switch", nil, api.SwitchBody{UserID: userID})
}

// ActiveUser is GET /v1/network/users/active.
func (c *Client) ActiveUser(ctx context.Context) (*api.ActiveUser, error) {
	return call[api.ActiveUser](ctx, c, http.MethodGet, "/v1/network/users/active", nil, nil)
}

// SerializeUser is POST /v1/network/users/{uid}/serialize.
func (c *Client) SerializeUser(ctx context.Context, userID string) (*api.UserState, error) {
	return call[api.UserState](ctx, c, http.MethodPost, "/v1/network/users/"+seg(userID)+"/serialize", nil, nil)
}

// Propose is POST /v1/network/consensus.
func (c *Client) Propose(ctx context.Context, b api.ConsensusBody) (*api.Consensus, error) {
	return call[api.Consensus](ctx, c, http.MethodPost, "/v1/network/consensus", nil, b)
}

// Trust is GET /v1/network/consensus/trust.
func (c *Client) Trust(ctx context.Context) (*api.TrustScores, error) {
	return call[api.TrustScores](ctx, c, http.MethodGet, "/v1/network/consensus/trust", nil, nil)
}

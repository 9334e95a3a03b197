package server

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/semvec-go/semvec/persistence"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const pgURL = "postgresql://u@127.0.0.1:5432/db?sslmode=disable"

func TestClusterConfigOffByDefault(t *testing.T) {
	c, err := LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Enabled {
		t.Fatal("cluster mode on without configuration")
	}
}

func TestClusterConfig(t *testing.T) {
	c, err := LoadConfig(env(map[string]string{
		"DATABASE_URL": pgURL, "SEMVEC_CLUSTER": "on", "SEMVEC_CLUSTER_NAME": "prod",
		"SEMVEC_CLUSTER_ETCD": "10.0.0.2:2379, http://10.0.0.3:2379", "SEMVEC_CLUSTER_HOST": "0.0.0.0",
		"SEMVEC_CLUSTER_PORT": "8091", "SEMVEC_CLUSTER_ADVERTISE": "10.0.0.5:8091", "SEMVEC_CLUSTER_TTL": "7s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := ClusterConfig{Enabled: true, Name: "prod", Etcd: []string{"10.0.0.2:2379", "http://10.0.0.3:2379"},
		Host: "0.0.0.0", Port: 8091, Advertise: "10.0.0.5:8091", TTL: 7 * time.Second}
	got := c.Cluster
	if got.Enabled != want.Enabled || got.Name != want.Name || !slices.Equal(got.Etcd, want.Etcd) || got.Host != want.Host ||
		got.Port != want.Port || got.Advertise != want.Advertise || got.TTL != want.TTL {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	// Defaults: a node on this machine's loopback, etcd on its default port.
	c, err = LoadConfig(env(map[string]string{"DATABASE_URL": pgURL, "SEMVEC_CLUSTER": "1", "SEMVEC_CLUSTER_PORT": "0"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Name != "semvec" || !slices.Equal(c.Cluster.Etcd, []string{"127.0.0.1:2379"}) || c.Cluster.Host != "127.0.0.1" || c.Cluster.Port != 0 || c.Cluster.TTL != 5*time.Second {
		t.Fatalf("defaults: %+v", c.Cluster)
	}
}

// Every bad value stops start-up with a message naming its variable.
func TestClusterConfigErrors(t *testing.T) {
	on := func(kv ...string) map[string]string {
		m := map[string]string{"DATABASE_URL": pgURL, "SEMVEC_CLUSTER": "1"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SEMVEC_CLUSTER": "maybe"}, "SEMVEC_CLUSTER: must be"},
		{on("DATABASE_URL", "sqlite:///x.db"), "SEMVEC_CLUSTER: cluster mode needs one PostgreSQL database"},
		{map[string]string{"SEMVEC_CLUSTER": "1"}, "SQLite is a file on one machine and is refused"}, // the default DATABASE_URL
		{on("SEMVEC_CLUSTER_NAME", "a/b"), "SEMVEC_CLUSTER_NAME"},
		{on("SEMVEC_CLUSTER_ETCD", "127.0.0.1"), "SEMVEC_CLUSTER_ETCD"},
		{on("SEMVEC_CLUSTER_ETCD", "https://e:2379"), "SEMVEC_CLUSTER_ETCD"},
		{on("SEMVEC_CLUSTER_ETCD", " , "), "SEMVEC_CLUSTER_ETCD: must name at least one endpoint"},
		{on("SEMVEC_CLUSTER_PORT", "70000"), "SEMVEC_CLUSTER_PORT"},
		{on("SEMVEC_CLUSTER_PORT", "x"), "SEMVEC_CLUSTER_PORT"},
		{on("SEMVEC_CLUSTER_ADVERTISE", "10.0.0.5"), "SEMVEC_CLUSTER_ADVERTISE: must be host:port"},
		{on("SEMVEC_CLUSTER_HOST", "0.0.0.0"), "SEMVEC_CLUSTER_ADVERTISE: required"},
		{on("SEMVEC_CLUSTER_PORT", "0", "SEMVEC_CLUSTER_ADVERTISE", "10.0.0.5:8090"), "SEMVEC_CLUSTER_PORT: 0"},
		{on("SEMVEC_CLUSTER_TTL", "1s"), "SEMVEC_CLUSTER_TTL"},
		{on("SEMVEC_CLUSTER_TTL", "2500ms"), "SEMVEC_CLUSTER_TTL"},
		{on("SEMVEC_CLUSTER_TTL", "5"), "SEMVEC_CLUSTER_TTL"},
		{map[string]string{"SEMVEC_CLUSTER_PORT": "-1"}, "SEMVEC_CLUSTER_PORT"}, // checked with cluster mode off too
	} {
		_, err := LoadConfig(env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.env, err, tc.want)
		}
	}
}

// A period in seconds that would truncate to nothing, overflow, or is not a
// number is refused (a sweep period of 0 or below turned the sweep off).
func TestSecondsOutOfRange(t *testing.T) {
	for _, v := range []string{"0", "-1", "1e-10", "0.0001", "1e10", "NaN", "Inf", "soon"} {
		if _, err := LoadConfig(env(map[string]string{"SEMVEC_SESSION_SWEEP_S": v})); err == nil || !strings.Contains(err.Error(), "SEMVEC_SESSION_SWEEP_S") {
			t.Errorf("SEMVEC_SESSION_SWEEP_S=%s: %v, want an error naming it", v, err)
		}
	}
	c, err := LoadConfig(env(map[string]string{"SEMVEC_SESSION_SWEEP_S": "0.5", "SEMVEC_SESSION_IDLE_TTL_S": "31536000"}))
	if err != nil || c.Sweep != 500*time.Millisecond || c.IdleTTL != 365*24*time.Hour {
		t.Fatalf("in range: %+v %v", c, err)
	}
}

// SEMVEC_AUDIT_ROWS_PER_TENANT sets how many audit rows each tenant keeps:
// persistence's default unset, a positive integer otherwise.
func TestAuditRowsPerTenant(t *testing.T) {
	c, err := LoadConfig(env(nil))
	if err != nil || c.AuditRows != persistence.DefaultAuditRetention {
		t.Fatalf("default: %d %v, want %d", c.AuditRows, err, persistence.DefaultAuditRetention)
	}
	if c, err = LoadConfig(env(map[string]string{"SEMVEC_AUDIT_ROWS_PER_TENANT": "500"})); err != nil || c.AuditRows != 500 {
		t.Fatalf("500: %d %v", c.AuditRows, err)
	}
	for _, v := range []string{"0", "-1", "many"} {
		if _, err := LoadConfig(env(map[string]string{"SEMVEC_AUDIT_ROWS_PER_TENANT": v})); err == nil || !strings.Contains(err.Error(), "SEMVEC_AUDIT_ROWS_PER_TENANT") {
			t.Errorf("SEMVEC_AUDIT_ROWS_PER_TENANT=%s: %v, want an error naming it", v, err)
		}
	}
}

// SEMVEC_MAX_SESSION_MEMORY_MB bounds the sessions' bytes: 2048 unset, at
// least 64 (a session filled to every cap holds ~5 MiB).
func TestMaxSessionMemory(t *testing.T) {
	c, err := LoadConfig(env(nil))
	if err != nil || c.MaxSessionMemoryMB != 2048 {
		t.Fatalf("default: %d %v, want 2048", c.MaxSessionMemoryMB, err)
	}
	if c, err = LoadConfig(env(map[string]string{"SEMVEC_MAX_SESSION_MEMORY_MB": "64"})); err != nil || c.MaxSessionMemoryMB != 64 {
		t.Fatalf("64: %d %v", c.MaxSessionMemoryMB, err)
	}
	for _, v := range []string{"0", "63", "-1", "2GiB", "99999999999"} {
		if _, err := LoadConfig(env(map[string]string{"SEMVEC_MAX_SESSION_MEMORY_MB": v})); err == nil || !strings.Contains(err.Error(), "SEMVEC_MAX_SESSION_MEMORY_MB") {
			t.Errorf("SEMVEC_MAX_SESSION_MEMORY_MB=%s: %v, want an error naming it", v, err)
		}
	}
}

// SEMVEC_MAX_CONNECTIONS and SEMVEC_MAX_CONNECTIONS_PER_ADDRESS bound the
// HTTP connections: 10,000 and 1,000 unset, 0 for no bound, never negative.
func TestMaxConnections(t *testing.T) {
	c, err := LoadConfig(env(nil))
	if err != nil || c.MaxConnections != 10000 || c.MaxConnectionsPerAddress != 1000 {
		t.Fatalf("defaults: %d %d %v", c.MaxConnections, c.MaxConnectionsPerAddress, err)
	}
	c, err = LoadConfig(env(map[string]string{"SEMVEC_MAX_CONNECTIONS": "0", "SEMVEC_MAX_CONNECTIONS_PER_ADDRESS": "64"}))
	if err != nil || c.MaxConnections != 0 || c.MaxConnectionsPerAddress != 64 {
		t.Fatalf("0 and 64: %d %d %v", c.MaxConnections, c.MaxConnectionsPerAddress, err)
	}
	for _, name := range []string{"SEMVEC_MAX_CONNECTIONS", "SEMVEC_MAX_CONNECTIONS_PER_ADDRESS"} {
		for _, v := range []string{"-1", "many"} {
			if _, err := LoadConfig(env(map[string]string{name: v})); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%s: %v, want an error naming it", name, v, err)
			}
		}
	}
}

// SEMVEC_MAX_BODY_MEMORY_MB bounds the request bodies being received: 256
// unset; it must hold four of the largest bodies (one address may use a
// quarter of it).
func TestMaxBodyMemory(t *testing.T) {
	c, err := LoadConfig(env(nil))
	if err != nil || c.MaxBodyMemoryMB != 256 {
		t.Fatalf("default: %d %v", c.MaxBodyMemoryMB, err)
	}
	if c, err = LoadConfig(env(map[string]string{"SEMVEC_MAX_BODY_MEMORY_MB": "16"})); err != nil || c.MaxBodyMemoryMB != 16 {
		t.Fatalf("16: %d %v", c.MaxBodyMemoryMB, err)
	}
	for _, e := range []map[string]string{
		{"SEMVEC_MAX_BODY_MEMORY_MB": "15"}, // four 4 MiB bodies do not fit
		{"SEMVEC_MAX_BODY_MEMORY_MB": "0"},
		{"SEMVEC_MAX_BODY_MEMORY_MB": "x"},
		{"SEMVEC_MAX_BODY_MEMORY_MB": "64", "SEMVEC_MAX_BODY_BYTES": "20000000"},
	} {
		if _, err := LoadConfig(env(e)); err == nil || !strings.Contains(err.Error(), "SEMVEC_MAX_BODY_MEMORY_MB") {
			t.Errorf("%v: %v, want an error naming SEMVEC_MAX_BODY_MEMORY_MB", e, err)
		}
	}
}

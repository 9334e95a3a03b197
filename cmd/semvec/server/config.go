package server

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/semvec-go/semvec/actors/engine"
	"github.com/semvec-go/semvec/actors/membership"
	"github.com/semvec-go/semvec/persistence"
)

// Config is the server configuration, read from the environment. Every
// variable is documented in README.md; a bad value stops start-up with a
// message naming the variable.
type Config struct {
	Host, Port      string
	DatabaseURL     string
	PublicKeys      string // PEM or base64, possibly several
	PublicKeyFile   string
	Anonymous       bool
	MetricsUser     string
	MetricsPassword string
	CORSOrigins     []string
	AskTimeout      time.Duration
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	LogFormat       string
	MaxBodyBytes    int64
	IdleTTL         time.Duration
	MaxSessions     int
	// MaxSessionMemoryMB bounds the bytes the sessions in memory hold, as
	// they estimate it (SEMVEC_MAX_SESSION_MEMORY_MB).
	MaxSessionMemoryMB int
	// MaxBodyMemoryMB bounds the request bodies being received at once
	// (SEMVEC_MAX_BODY_MEMORY_MB).
	MaxBodyMemoryMB int
	// MaxConnections and MaxConnectionsPerAddress bound the open HTTP
	// connections, in all and from one client address (0: no bound).
	MaxConnections, MaxConnectionsPerAddress int
	MaxTenantSessions                        int // stored sessions per tenant (SEMVEC_MAX_SESSIONS_PER_TENANT)
	AuditRows                                int // audit rows kept per tenant (SEMVEC_AUDIT_ROWS_PER_TENANT)
	Sweep                                    time.Duration
	DevDir                                   string
	DisableDevLicense                        bool
	PprofAddr                                string
	// The /v1/run context block of every session (a session may choose its
	// own at creation): 0 means the engine's default.
	RunTopK            int
	ContextBudgetChars int
	// Cluster is cluster mode (SEMVEC_CLUSTER_*), off by default.
	Cluster ClusterConfig
}

// ClusterConfig makes the process a member of a semvec-go cluster
// (docs/cluster.md, "Running a cluster").
type ClusterConfig struct {
	Enabled bool
	Name    string   // cluster name: nodes with the same name and etcd form one cluster
	Etcd    []string // etcd client endpoints, host:port
	// Host and Port are where the node's remote (gRPC) listener binds;
	// port 0 picks a free one.
	Host string
	Port int
	// Advertise is the host:port other nodes dial; empty means the bound
	// address. Required when Host is unspecified (0.0.0.0 or ::).
	Advertise string
	TTL       time.Duration // membership lease: a dead node leaves the others' lists about one TTL later
}

// LoadConfig reads the configuration from getenv (os.Getenv in the command).
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Host: "0.0.0.0", Port: "8080",
		DatabaseURL:              "sqlite:///semvec.db",
		AskTimeout:               5 * time.Second,
		RequestTimeout:           30 * time.Second,
		ShutdownTimeout:          30 * time.Second,
		LogLevel:                 slog.LevelInfo,
		LogFormat:                "text",
		MaxBodyBytes:             4 << 20,
		IdleTTL:                  1800 * time.Second,
		MaxSessions:              10000,
		MaxSessionMemoryMB:       2048,
		MaxBodyMemoryMB:          256,
		MaxConnections:           10000,
		MaxConnectionsPerAddress: 1000,
		MaxTenantSessions:        persistence.DefaultMaxSessions,
		AuditRows:                persistence.DefaultAuditRetention,
		Sweep:                    60 * time.Second,
		DevDir:                   ".semvec-dev",
		Cluster: ClusterConfig{
			Name: "semvec", Etcd: []string{membership.DefaultEndpoint},
			Host: "127.0.0.1", Port: 8090, TTL: membership.DefaultTTL,
		},
	}
	var errs []string
	bad := func(name, why, got string) { errs = append(errs, fmt.Sprintf("%s: %s, got %q", name, why, got)) }
	str := func(name string, dst *string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		}
	}
	boolean := func(name string, dst *bool) {
		switch v := strings.ToLower(strings.TrimSpace(getenv(name))); v {
		case "":
		case "1", "true", "yes", "on":
			*dst = true
		case "0", "false", "no", "off":
			*dst = false
		default:
			bad(name, "must be 1/0, true/false, yes/no or on/off", v)
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				bad(name, "must be a positive Go duration such as 5s or 250ms", v)
				return
			}
			*dst = d
		}
	}
	seconds := func(name string, dst *time.Duration) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			// NaN fails both comparisons; below a millisecond a period
			// truncates to nothing, above a year it overflows nothing but
			// is a mistake.
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f >= 0.001 && f <= 31_536_000) {
				bad(name, "must be a number of seconds from 0.001 to 31536000 (a year)", v)
				return
			}
			*dst = time.Duration(f * float64(time.Second))
		}
	}
	integer := func(name string, dst *int, min int) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < min {
				bad(name, fmt.Sprintf("must be an integer ≥ %d", min), v)
				return
			}
			*dst = n
		}
	}
	between := func(name string, dst *int, lo, hi int) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo || n > hi {
				bad(name, fmt.Sprintf("must be an integer from %d to %d", lo, hi), v)
				return
			}
			*dst = n
		}
	}
	str("DATABASE_URL", &c.DatabaseURL)
	if u := c.DatabaseURL; !strings.HasPrefix(u, "sqlite:") && !strings.HasPrefix(u, "sqlite3:") && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		bad("DATABASE_URL", "must start with sqlite:/// or postgresql://", u)
	}
	c.PublicKeys = getenv("SEMVEC_LICENSE_PUBLIC_KEY")
	str("SEMVEC_LICENSE_PUBLIC_KEY_FILE", &c.PublicKeyFile)
	boolean("SEMVEC_ALLOW_ANONYMOUS", &c.Anonymous)
	c.MetricsUser = getenv("METRICS_USER")
	c.MetricsPassword = getenv("METRICS_PASSWORD")
	if (c.MetricsUser == "") != (c.MetricsPassword == "") {
		errs = append(errs, "METRICS_USER / METRICS_PASSWORD: set both or neither")
	}
	if v := strings.TrimSpace(getenv("CORS_ORIGINS")); v != "" {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
					bad("CORS_ORIGINS", "each origin must be * or start with http:// or https://", o)
				}
				c.CORSOrigins = append(c.CORSOrigins, o)
			}
		}
	}
	dur("SEMVEC_ASK_TIMEOUT", &c.AskTimeout)
	dur("SEMVEC_REQUEST_TIMEOUT", &c.RequestTimeout)
	dur("SEMVEC_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
	if v := strings.TrimSpace(getenv("SEMVEC_LOG_LEVEL")); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad("SEMVEC_LOG_LEVEL", "must be debug, info, warn or error", v)
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("SEMVEC_LOG_FORMAT"))); v {
	case "":
	case "text", "json":
		c.LogFormat = v
	default:
		bad("SEMVEC_LOG_FORMAT", "must be text or json", v)
	}
	var maxBody int
	integer("SEMVEC_MAX_BODY_BYTES", &maxBody, 1024)
	if maxBody > 0 {
		c.MaxBodyBytes = int64(maxBody)
	}
	between("SEMVEC_MAX_BODY_MEMORY_MB", &c.MaxBodyMemoryMB, 1, 1<<24)
	if int64(c.MaxBodyMemoryMB)<<20/4 < c.MaxBodyBytes {
		bad("SEMVEC_MAX_BODY_MEMORY_MB", fmt.Sprintf("must hold four bodies of SEMVEC_MAX_BODY_BYTES (%d bytes): one address may use a quarter of it", c.MaxBodyBytes),
			strconv.Itoa(c.MaxBodyMemoryMB))
	}
	seconds("SEMVEC_SESSION_IDLE_TTL_S", &c.IdleTTL)
	integer("SEMVEC_MAX_SESSIONS", &c.MaxSessions, 1)
	between("SEMVEC_MAX_SESSION_MEMORY_MB", &c.MaxSessionMemoryMB, 64, 1<<24)
	integer("SEMVEC_MAX_CONNECTIONS", &c.MaxConnections, 0)
	integer("SEMVEC_MAX_CONNECTIONS_PER_ADDRESS", &c.MaxConnectionsPerAddress, 0)
	integer("SEMVEC_MAX_SESSIONS_PER_TENANT", &c.MaxTenantSessions, 1)
	integer("SEMVEC_AUDIT_ROWS_PER_TENANT", &c.AuditRows, 1)
	seconds("SEMVEC_SESSION_SWEEP_S", &c.Sweep)
	str("SEMVEC_DEV_DIR", &c.DevDir)
	str("SEMVEC_PPROF_ADDR", &c.PprofAddr)
	if c.PprofAddr != "" {
		_, port, err := net.SplitHostPort(c.PprofAddr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			bad("SEMVEC_PPROF_ADDR", "must be host:port, such as 127.0.0.1:6060", c.PprofAddr)
		}
	}
	boolean("SEMVEC_DISABLE_DEV_LICENSE", &c.DisableDevLicense)
	between("SEMVEC_RUN_TOP_K", &c.RunTopK, engine.MinContextTopK, engine.MaxContextTopK)
	between("SEMVEC_CONTEXT_BUDGET_CHARS", &c.ContextBudgetChars, engine.MinContextBudgetChars, engine.MaxContextBudgetChars)
	errs = append(errs, c.Cluster.load(getenv, c.DatabaseURL)...)
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return c, nil
}

// load reads the SEMVEC_CLUSTER_* variables into c and returns one message
// per bad value, each naming its variable. Values are checked even with
// cluster mode off, so that a typo does not wait for the day it is turned
// on.
func (c *ClusterConfig) load(getenv func(string) string, databaseURL string) []string {
	var errs []string
	bad := func(name, why, got string) { errs = append(errs, fmt.Sprintf("%s: %s, got %q", name, why, got)) }
	switch v := strings.ToLower(strings.TrimSpace(getenv("SEMVEC_CLUSTER"))); v {
	case "":
	case "1", "true", "yes", "on":
		c.Enabled = true
	case "0", "false", "no", "off":
		c.Enabled = false
	default:
		bad("SEMVEC_CLUSTER", "must be 1/0, true/false, yes/no or on/off", v)
	}
	if v := strings.TrimSpace(getenv("SEMVEC_CLUSTER_NAME")); v != "" {
		if err := membership.ValidateClusterName(v); err != nil {
			bad("SEMVEC_CLUSTER_NAME", `must be a name without "/", spaces or control characters`, v)
		}
		c.Name = v
	}
	if v := strings.TrimSpace(getenv("SEMVEC_CLUSTER_ETCD")); v != "" {
		c.Etcd = nil
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e == "" {
				continue
			}
			if err := (membership.Config{Endpoints: []string{e}}).Validate(); err != nil {
				bad("SEMVEC_CLUSTER_ETCD", "each endpoint must be host:port or http://host:port (comma-separated)", e)
			}
			c.Etcd = append(c.Etcd, e)
		}
		if len(c.Etcd) == 0 {
			bad("SEMVEC_CLUSTER_ETCD", "must name at least one endpoint", v)
		}
	}
	if v := strings.TrimSpace(getenv("SEMVEC_CLUSTER_HOST")); v != "" {
		c.Host = v
	}
	if v := strings.TrimSpace(getenv("SEMVEC_CLUSTER_PORT")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			bad("SEMVEC_CLUSTER_PORT", "must be a port from 0 to 65535 (0 picks a free one)", v)
		} else {
			c.Port = n
		}
	}
	if v := strings.TrimSpace(getenv("SEMVEC_CLUSTER_ADVERTISE")); v != "" {
		host, port, err := net.SplitHostPort(v)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			bad("SEMVEC_CLUSTER_ADVERTISE", "must be host:port, the address other nodes dial", v)
		}
		c.Advertise = v
	}
	if v := strings.TrimSpace(getenv("SEMVEC_CLUSTER_TTL")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || (membership.Config{TTL: d}).Validate() != nil || d == 0 {
			bad("SEMVEC_CLUSTER_TTL", fmt.Sprintf("must be whole seconds from %v to %v, such as 5s", membership.MinTTL, membership.MaxTTL), v)
		} else {
			c.TTL = d
		}
	}
	if !c.Enabled {
		return errs
	}
	if ip := net.ParseIP(c.Host); (c.Host == "" || (ip != nil && ip.IsUnspecified())) && c.Advertise == "" {
		errs = append(errs, fmt.Sprintf("SEMVEC_CLUSTER_ADVERTISE: required when SEMVEC_CLUSTER_HOST is %q (the other nodes need an address they can dial)", c.Host))
	}
	if c.Port == 0 && c.Advertise != "" {
		errs = append(errs, "SEMVEC_CLUSTER_PORT: 0 (a free port) cannot be advertised: set a fixed port with SEMVEC_CLUSTER_ADVERTISE")
	}
	if !strings.HasPrefix(databaseURL, "postgres://") && !strings.HasPrefix(databaseURL, "postgresql://") {
		errs = append(errs, "SEMVEC_CLUSTER: cluster mode needs one PostgreSQL database shared by every node (DATABASE_URL=postgresql://…); SQLite is a file on one machine and is refused")
	}
	return errs
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// engineConfig is the configuration of a new session of dimension dim: the
// engine's defaults with the deployment's context top-k and budget.
func (c Config) engineConfig(dim int) engine.Config {
	e := engine.DefaultConfig(dim)
	if c.RunTopK != 0 {
		e.ContextTopK = c.RunTopK
	}
	if c.ContextBudgetChars != 0 {
		e.ContextBudgetChars = c.ContextBudgetChars
	}
	return e
}

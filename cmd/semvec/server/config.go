package server

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/semvec-go/semvec/actors/engine"
)

// Config is the server configuration, read from the environment. Every
// variable is documented in README.md; a bad value stops start-up with a
// message naming the variable.
type Config struct {
	Host, Port        string
	DatabaseURL       string
	PublicKeys        string // PEM or base64, possibly several
	PublicKeyFile     string
	Anonymous         bool
	MetricsUser       string
	MetricsPassword   string
	CORSOrigins       []string
	AskTimeout        time.Duration
	RequestTimeout    time.Duration
	ShutdownTimeout   time.Duration
	LogLevel          slog.Level
	LogFormat         string
	MaxBodyBytes      int64
	IdleTTL           time.Duration
	MaxSessions       int
	Sweep             time.Duration
	DevDir            string
	DisableDevLicense bool
	PprofAddr         string
	// The /v1/run context block of every session (a session may choose its
	// own at creation): 0 means the engine's default.
	RunTopK            int
	ContextBudgetChars int
}

// LoadConfig reads the configuration from getenv (os.Getenv in the command).
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Host: "0.0.0.0", Port: "8080",
		DatabaseURL:     "sqlite:///semvec.db",
		AskTimeout:      5 * time.Second,
		RequestTimeout:  30 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		LogLevel:        slog.LevelInfo,
		LogFormat:       "text",
		MaxBodyBytes:    4 << 20,
		IdleTTL:         1800 * time.Second,
		MaxSessions:     10000,
		Sweep:           60 * time.Second,
		DevDir:          ".semvec-dev",
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
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				bad(name, "must be a positive number of seconds", v)
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
	seconds("SEMVEC_SESSION_IDLE_TTL_S", &c.IdleTTL)
	integer("SEMVEC_MAX_SESSIONS", &c.MaxSessions, 1)
	seconds("SEMVEC_SESSION_SWEEP_S", &c.Sweep)
	str("SEMVEC_DEV_DIR", &c.DevDir)
	str("SEMVEC_PPROF_ADDR", &c.PprofAddr)
	boolean("SEMVEC_DISABLE_DEV_LICENSE", &c.DisableDevLicense)
	between("SEMVEC_RUN_TOP_K", &c.RunTopK, engine.MinContextTopK, engine.MaxContextTopK)
	between("SEMVEC_CONTEXT_BUDGET_CHARS", &c.ContextBudgetChars, engine.MinContextBudgetChars, engine.MaxContextBudgetChars)
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return c, nil
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

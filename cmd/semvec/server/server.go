// Package server assembles one semvec-go process from its configuration:
// database, metrics, actor system and the HTTP listener. The semvec command
// runs it; tests (the command's, the Go client's examples) start it
// in-process on port 0.
package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/actors/engine"
	apihttp "github.com/semvec-go/semvec/http"
	"github.com/semvec-go/semvec/http/license"
	"github.com/semvec-go/semvec/persistence"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// Server is one running semvec-go: database, actor system, HTTP listener.
type Server struct {
	log      *slog.Logger
	store    *persistence.Store
	sys      *actor.ActorSystem
	cluster  *clusterNode      // nil in single-node mode
	place    *actors.Placement // nil in single-node mode
	sessions *actors.Sessions
	layers   *actors.Layers
	http     *http.Server
	pprof    *http.Server // SEMVEC_PPROF_ADDR's; nil without it
	addr     net.Addr
	token    string // development token, when one was issued
	stopping atomic.Bool
	cancel   context.CancelFunc
	bg       sync.WaitGroup
	once     sync.Once
	err      error
}

// Start builds the server from the leaves up (config → database → metrics →
// actors → HTTP) and starts serving on cfg.Host:cfg.Port (port "0" picks a
// free one; Addr tells which). It returns once the listener is open; stdout
// gets the banner, stderr the log.
func Start(ctx context.Context, cfg Config, getenv func(string) string, stdout, stderr io.Writer) (*Server, error) {
	log := newLogger(cfg, stderr)
	gin.SetMode(gin.ReleaseMode)

	emb, err := embed.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	reranker, err := embed.RerankerFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	keys, devToken, err := licenceKeys(cfg, stdout)
	if err != nil {
		return nil, err
	}
	var verifier *license.Verifier
	if !cfg.Anonymous {
		verifier = license.NewVerifier(keys)
	} else if !isLoopback(cfg.Host) {
		log.Warn("SEMVEC_ALLOW_ANONYMOUS=1 on a non-loopback address: every request is served WITHOUT authentication", "host", cfg.Host)
		fmt.Fprintf(stdout, "WARNING: anonymous mode on %s — anyone who can reach this port can use the API without a token.\n", cfg.Host)
	}

	// The port is taken before the database is opened: a second server
	// started by mistake on a port in use must fail before it activates
	// anything (its observers, its cluster membership), or it would
	// supersede the running server's activations on a shared database.
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, cfg.Port))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	// After the port, like the database: a server that cannot take its
	// port fails at once, without waiting for (and paying) the embedding
	// service.
	if err := learnDim(ctx, emb); err != nil {
		ln.Close()
		return nil, err
	}

	octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
	// A database operation ends within three fifths of the ask timeout, so
	// that a database that hangs is answered 503 (with Retry-After) before
	// the ask gives up with a 504 whose outcome is unknown.
	store, err := persistence.Open(octx, cfg.DatabaseURL, persistence.WithLogger(log), persistence.WithMaxSessions(cfg.MaxTenantSessions),
		persistence.WithAuditRetention(cfg.AuditRows),
		persistence.WithOpTimeout(min(persistence.DefaultOpTimeout, cfg.AskTimeout*3/5)))
	ocancel()
	if err != nil {
		ln.Close()
		if !strings.HasPrefix(err.Error(), "DATABASE_URL") { // the store's own messages name it
			err = fmt.Errorf("DATABASE_URL: %w", err)
		}
		return nil, err
	}

	reg := prometheus.NewRegistry()
	metrics := apihttp.NewMetrics(reg)
	sys := actors.NewActorSystem(log)
	asker := &actors.Asker{Root: sys.Root, Timeout: cfg.AskTimeout, Observer: metrics.ObserveAsk}
	sessions := actors.NewSessions(sys.Root, store, asker, actors.SessionConfig{
		Dim: emb.Dim(), ModelName: emb.Name(), IdleTTL: cfg.IdleTTL, MaxSessions: cfg.MaxSessions, MaxBytes: int64(cfg.MaxSessionMemoryMB) << 20, Sweep: cfg.Sweep,
		Engine: cfg.engineConfig,
	}, log, nil)
	layers := actors.NewLayers(sys.Root, store, asker, sessions, log, nil)
	layers.LimitRegionMemory(int64(cfg.MaxSessionMemoryMB) << 20 / 8) // their drift event logs
	registerActorGauges(reg, sessions, layers)
	var node *clusterNode
	var place *actors.Placement
	if cfg.Cluster.Enabled {
		// Every actor kind is a grain placed by identity over the members
		// (actors/placement.go); this node hosts the routers of the
		// identities it owns.
		// The placement starts before the node joins: from the moment the
		// others see it they route grains here, and the actors those
		// activate ask and tell other identities (a cluster's state asks
		// its member sessions). With the placement not yet started, those
		// went to this node's own registries as on a single node, which
		// activated sessions owned by other members: each such activation
		// took the session's epoch from its owner's running actor, which
		// then served stale reads and refused its next change (503) long
		// after the membership had settled.
		place = actors.NewPlacement(sessions, layers, log)
		var started bool
		node, err = startCluster(cfg.Cluster, fmt.Sprintf("%s/%d", emb.Name(), emb.Dim()), keyIDs(keys, cfg.Anonymous), sys, place.Kinds(), log,
			func(c *cluster.Cluster) { place.Start(c); started = true })
		if err != nil {
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			if started {
				place.Close(sctx)
			}
			_ = layers.Shutdown(sctx)
			scancel()
			sessions.Abandon() // nothing ran: stop its writers
			_ = store.Close()
			ln.Close()
			return nil, err
		}
		node.registerMetrics(reg)
	}

	s := &Server{log: log, store: store, sys: sys, cluster: node, place: place, sessions: sessions, layers: layers, token: devToken}
	bgctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.bg.Add(2)
	go func() { defer s.bg.Done(); sessions.Run(bgctx) }()
	go func() { defer s.bg.Done(); layers.Run(bgctx) }()

	engine := apihttp.New(apihttp.Deps{
		Log: log, Verifier: verifier, Anonymous: cfg.Anonymous,
		MetricsUser: cfg.MetricsUser, MetricsPassword: cfg.MetricsPassword, CORSOrigins: cfg.CORSOrigins,
		MaxBodyBytes: cfg.MaxBodyBytes, Embedder: emb, Reranker: reranker, Sessions: sessions, Layers: layers, DB: store,
		Metrics: metrics, Limiter: apihttp.NewRateLimiter(nil), ActorsUp: func() bool { return !s.stopping.Load() },
		RequestTimeout: cfg.RequestTimeout, Cluster: s.clusterMembers(),
		Bodies: apihttp.NewBodyBudget(int64(cfg.MaxBodyMemoryMB)<<20, cfg.MaxBodyBytes),
	})
	s.http = &http.Server{
		Handler:           engine,
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       readTimeout(cfg.RequestTimeout),
		WriteTimeout:      writeTimeout(cfg.RequestTimeout),
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    apihttp.HeaderBackstopBytes, // hard limit; JSON 414/431 come well below it
		// "OPTIONS *" reaches the engine (a JSON 404), not net/http's empty 200.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.addr = ln.Addr()
	ln = apihttp.LimitConnections(s.http, ln, cfg.MaxConnections, cfg.MaxConnectionsPerAddress)
	if cfg.PprofAddr != "" {
		if err := s.startPprof(cfg.PprofAddr); err != nil {
			ln.Close()
			s.closeBackend(context.Background())
			return nil, err
		}
	}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	s.banner(cfg, emb, stdout)
	log.Info("semvec-go started", "addr", s.addr.String(), "version", semvec.Version, "database", store.Dialect(), "embedder", emb.Name(), "dim", emb.Dim(), "cluster", cfg.Cluster.Enabled)
	return s, nil
}

// headerTimeout bounds the reading of a request's line and headers.
const headerTimeout = 10 * time.Second

// readTimeout is the http.Server's ReadTimeout (request line, headers and
// body, from the request's first byte) for a request deadline of
// requestTimeout (which starts once the headers are in): past the deadline
// whatever the headers took, so that a body still arriving then ends in a
// read error after the deadline, answered 408 (not 400, as when the read
// was cut before the deadline, after slow headers). 45 s at the default
// deadline of 30 s.
func readTimeout(requestTimeout time.Duration) time.Duration {
	return requestTimeout + headerTimeout + 5*time.Second
}

// writeTimeout is the http.Server's WriteTimeout (from the end of the
// headers) for a request deadline of requestTimeout: past the latest end of
// a body read (readTimeout), so that its 408 is written, not lost with the
// connection closed. 50 s at the default deadline of 30 s.
func writeTimeout(requestTimeout time.Duration) time.Duration {
	return readTimeout(requestTimeout) + 5*time.Second
}

// Shutdown stops accepting, lets in-flight requests finish, passivates every
// actor (sessions save their snapshots), then closes the database.
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(func() {
		s.stopping.Store(true)
		err := s.http.Shutdown(ctx)
		if err != nil {
			s.log.Warn("http shutdown", "err", err)
		}
		if s.pprof != nil {
			_ = s.pprof.Close() // profiles in progress end with the process
		}
		s.err = errors.Join(err, s.closeBackend(ctx))
		s.log.Info("semvec-go stopped")
	})
	return s.err
}

// Cluster is the protoactor cluster this node is a member of, nil in
// single-node mode.
func (s *Server) Cluster() *cluster.Cluster {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.c
}

// Lost is closed when this node dropped out of the cluster's member list
// (ErrMembershipLost); nil (never ready) in single-node mode. Its owner
// shuts the server down and ends the process.
func (s *Server) Lost() <-chan struct{} {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.lost
}

// clusterMembers is readiness's view of the cluster, nil in single-node
// mode.
func (s *Server) clusterMembers() func() (int, bool) {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.Members
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.addr }

// URL is the server's base URL, http://host:port.
func (s *Server) URL() string { return "http://" + s.addr.String() }

// HTTPServer is the server's net/http server.
func (s *Server) HTTPServer() *http.Server { return s.http }

// Store is the server's database.
func (s *Server) Store() *persistence.Store { return s.store }

// Kill closes the listener and the database without passivating the
// sessions, as if the process were killed; the Server is unusable after it.
// In cluster mode the node leaves the member list at once (its lease is
// revoked: it cannot be left to expire while the process lives).
func (s *Server) Kill() {
	_ = s.http.Close()
	_ = s.store.Close()
	// What dies with the process: the background loops, the actors and the
	// session layer's writers (nothing is passivated or saved).
	if s.cancel != nil {
		s.cancel()
	}
	s.bg.Wait()
	if s.place != nil {
		gone, cancel := context.WithCancel(context.Background())
		cancel() // nothing more is delivered
		s.place.Close(gone)
	}
	if s.cluster != nil {
		s.cluster.kill() // shuts the actor system down too
	} else {
		s.sys.Shutdown()
	}
	if s.layers != nil {
		s.layers.Abandon()
	}
	s.sessions.Abandon()
}

func (s *Server) closeBackend(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
	}
	s.bg.Wait()
	var errs []error
	if s.layers != nil {
		errs = append(errs, s.layers.Shutdown(ctx))
	}
	errs = append(errs, s.sessions.Shutdown(ctx))
	if s.place != nil {
		s.place.Close(ctx) // the actors have stopped and refuse new activations; the node leaves next
	}
	if s.cluster != nil {
		// Leave before the database closes: the others drop this node at
		// once. protoactor's cluster shutdown shuts the actor system down
		// too (a second Shutdown would panic).
		errs = append(errs, s.cluster.leave(ctx))
	} else {
		s.sys.Shutdown()
	}
	errs = append(errs, s.store.Close())
	return errors.Join(errs...)
}

// licenceKeys returns the public keys that verify tokens. Without configured
// keys (and without anonymous mode) it runs in development mode: it creates a
// key pair in cfg.DevDir once, issues a token for subject "dev" and prints it.
// keyIDs names the licence keys a node trusts, for its cluster peers to
// compare (sorted key ids, comma-separated; "anonymous" in anonymous mode).
func keyIDs(keys []ed25519.PublicKey, anonymous bool) string {
	if anonymous {
		return "anonymous"
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = license.KeyID(k)
	}
	slices.Sort(ids)
	return strings.Join(slices.Compact(ids), ",")
}

func licenceKeys(cfg Config, stdout io.Writer) ([]ed25519.PublicKey, string, error) {
	if cfg.Anonymous {
		return nil, "", nil
	}
	src := cfg.PublicKeys
	if cfg.PublicKeyFile != "" {
		b, err := os.ReadFile(cfg.PublicKeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("SEMVEC_LICENSE_PUBLIC_KEY_FILE: %w", err)
		}
		src += "\n" + string(b)
	}
	if src != "" {
		keys, err := license.ParsePublicKeys(src)
		if err != nil {
			return nil, "", fmt.Errorf("SEMVEC_LICENSE_PUBLIC_KEY: %w", err)
		}
		return keys, "", nil
	}
	if cfg.DisableDevLicense {
		return nil, "", errors.New("no licence key configured: set SEMVEC_LICENSE_PUBLIC_KEY or SEMVEC_LICENSE_PUBLIC_KEY_FILE (or SEMVEC_ALLOW_ANONYMOUS=1 for local development)")
	}
	return devLicence(cfg.DevDir)
}

func devLicence(dir string) ([]ed25519.PublicKey, string, error) {
	privPath := filepath.Join(dir, "license_private.pem")
	pubPath := filepath.Join(dir, "license_public.pem")
	if _, err := os.Stat(privPath); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", fmt.Errorf("SEMVEC_DEV_DIR: %w", err)
		}
		if _, _, err := license.WriteKeyPair(dir); err != nil {
			return nil, "", fmt.Errorf("SEMVEC_DEV_DIR: %w", err)
		}
	}
	priv, err := license.LoadPrivateKey(privPath)
	if err != nil {
		return nil, "", fmt.Errorf("SEMVEC_DEV_DIR: %w", err)
	}
	pubPEM, err := os.ReadFile(pubPath)
	if err != nil {
		return nil, "", fmt.Errorf("SEMVEC_DEV_DIR: %w", err)
	}
	keys, err := license.ParsePublicKeys(string(pubPEM))
	if err != nil {
		return nil, "", fmt.Errorf("SEMVEC_DEV_DIR: %w", err)
	}
	tok, err := license.Issue(priv, "dev", semvec.TierPro, 30*24*time.Hour, time.Now())
	if err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(tok+"\n"), 0o600); err != nil {
		return nil, "", fmt.Errorf("SEMVEC_DEV_DIR: %w", err)
	}
	return keys, tok, nil
}

func (s *Server) banner(cfg Config, emb embed.Embedder, w io.Writer) {
	host := cfg.Host
	if host == "0.0.0.0" || host == "::" || host == "" {
		host = "127.0.0.1"
	}
	_, port, _ := net.SplitHostPort(s.addr.String())
	base := "http://" + net.JoinHostPort(host, port)
	fmt.Fprintf(w, "semvec-go %s listening on %s (database: %s, embedder: %s %d-d)\n", semvec.Version, s.addr, s.store.Dialect(), emb.Name(), emb.Dim())
	if s.cluster != nil {
		n, _ := s.cluster.Members()
		fmt.Fprintf(w, "Cluster %q: member %s at %s, %d member(s) seen (etcd %s).\n", cfg.Cluster.Name, s.sys.ID, s.sys.Address(), n, strings.Join(cfg.Cluster.Etcd, ","))
	}
	switch {
	case cfg.Anonymous:
		fmt.Fprintf(w, "Anonymous mode: no token needed.\nTry:\n  curl -s %s/v1/run -H 'Content-Type: application/json' -d '{\"message\":\"What is Kubernetes?\"}'\n", base)
	case s.token != "":
		fmt.Fprintf(w, "Development licence (no SEMVEC_LICENSE_PUBLIC_KEY set): keys in %s/, token for subject \"dev\" (pro tier, 30 days) in %s/token:\n  %s\n", cfg.DevDir, cfg.DevDir, s.token)
		fmt.Fprintf(w, "Try:\n  curl -s %s/v1/run -H \"X-API-Key: $(cat %s/token)\" -H 'Content-Type: application/json' -d '{\"message\":\"What is Kubernetes?\"}'\n", base, cfg.DevDir)
	default:
		fmt.Fprintf(w, "Send a licence token in Authorization: Bearer <token> or X-API-Key: <token>.\n")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startPprof serves net/http/pprof on its own listener (SEMVEC_PPROF_ADDR),
// never on the API port. An address it cannot listen on stops start-up.
func (s *Server) startPprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("SEMVEC_PPROF_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.pprof.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("pprof listener stopped", "addr", addr, "err", err)
		}
	}()
	s.log.Info("pprof listening", "addr", ln.Addr().String())
	return nil
}

// registerActorGauges adds semvec_actors_active{kind}: the actors of each
// kind running in this process (in cluster mode, the grains this member
// hosts, which shows how identities spread over the members).
func registerActorGauges(reg prometheus.Registerer, sessions *actors.Sessions, layers *actors.Layers) {
	count := map[string]func() int{"session": sessions.Active}
	for _, kind := range []string{"cluster", "region", "observer", "network"} {
		count[kind] = func() int { return layers.Active()[kind] }
	}
	for kind, n := range count {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "semvec_actors_active",
			Help:        "Actors this process holds by kind, running, activating or stopping (in cluster mode: the grains this member hosts).",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return float64(n()) }))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "semvec_region_memory_bytes",
		Help: "Bytes the region actors in memory hold (their drift event logs), as they estimate it, against an eighth of SEMVEC_MAX_SESSION_MEMORY_MB.",
	}, func() float64 { return float64(layers.RegionMemory()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "semvec_session_memory_bytes",
		Help: "Bytes the sessions in memory hold, as they estimate it, against SEMVEC_MAX_SESSION_MEMORY_MB.",
	}, func() float64 { return float64(sessions.Held()) }))
}

// learnDimTimeout bounds the request that learns the embedder's dimension
// at start-up (learnDim).
const learnDimTimeout = 30 * time.Second

// learnDim learns the dimension of an embedder that does not know it yet
// (openai without SEMVEC_EMBEDDER_DIM learns it from its first answer)
// with one embedding at start-up: every session is created with the
// dimension the session layer is given when it is wired, and a dimension
// of 0 would refuse every session. A service that does not answer stops
// start-up, as a database that does not. The dimension must be one a
// session takes (engine.MaxDim at most).
func learnDim(ctx context.Context, emb embed.Embedder) error {
	if emb.Dim() == 0 {
		lctx, cancel := context.WithTimeout(ctx, learnDimTimeout)
		defer cancel()
		if _, err := emb.Embed(lctx, []string{"semvec dimension probe"}); err != nil {
			return fmt.Errorf("%s: unset, so the dimension is learnt from the embedding service at start-up, which failed (set %s to start without it): %w", embed.EnvDim, embed.EnvDim, err)
		}
	}
	if d := emb.Dim(); d < 1 || d > engine.MaxDim {
		return fmt.Errorf("%s: the embedding service's vectors have %d dimensions; sessions take 1 to %d", embed.EnvDim, d, engine.MaxDim)
	}
	return nil
}

package actors

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors/engine"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// SessionStore is what the session layer needs from persistence.
type SessionStore interface {
	SnapshotBatchSaver
	CreateSession(ctx context.Context, rec persistence.SessionRecord) error
	CreateSessionWithSnapshot(ctx context.Context, rec persistence.SessionRecord, data []byte, at time.Time) error
	GetSession(ctx context.Context, owner, id string) (persistence.SessionRecord, error)
	ActivateSession(ctx context.Context, owner, id string) (persistence.SessionRecord, error)
	DeleteSession(ctx context.Context, owner, id string) (persistence.Unlinked, error)
	LogAppender
	LoadCheckpoint(ctx context.Context, owner, id string) (persistence.Checkpoint, error)
	LoadLog(ctx context.Context, owner, id string, after int64) ([]persistence.LogEntry, error)
	ClustersOfSession(ctx context.Context, owner, sessionID string) ([]string, error)
	Audit(ctx context.Context, e persistence.AuditEntry) error
}

// SessionConfig tunes the session layer.
type SessionConfig struct {
	Dim         int           // embedding dimension of every session (the embedder's): required, 1 to engine.MaxDim
	ModelName   string        // recorded as session metadata
	IdleTTL     time.Duration // passivate sessions idle this long (SEMVEC_SESSION_IDLE_TTL_S)
	MaxSessions int           // passivate the least recently used beyond this (SEMVEC_MAX_SESSIONS)
	// MaxBytes, when positive, passivates the least recently used while the
	// sessions in memory hold more (engine.ApproxSize; SEMVEC_MAX_SESSION_MEMORY_MB).
	MaxBytes int64
	Sweep    time.Duration // how often idle sessions are passivated and dirty ones flushed
	Engine   func(dim int) engine.Config
}

// CreateOptions are the knobs of POST /v1/session/create.
type CreateOptions struct {
	ID                string // optional: explicit id (reset_context on an unknown id)
	Kind              string // "session" (default), "cluster", "region_meta", "observer_meta"
	ModelName         string
	UseAttention      bool
	UseCache          bool
	UseMetaPSS        bool
	UseCortex         bool
	EnableTopicSwitch *bool
	Template          []float32
	Policy            []PolicyVector
	// ContextTopK and ContextBudgetChars tune the /v1/run context block of
	// this session (0: the server's); see engine.MaxContextTopK and
	// engine.MaxContextBudgetChars for the bounds.
	ContextTopK        int
	ContextBudgetChars int
}

// PolicyVector biases a session towards a direction (registered as a drift
// anchor of its weight). Promote is accepted only at its default (see
// checkPolicyVectors).
type PolicyVector struct {
	Embedding []float32 `json:"embedding"`
	Weight    *float64  `json:"weight"` // nil: not given
	Promote   bool      `json:"promote"`
}

// Sessions activates, creates, deletes and passivates session actors.
type Sessions struct {
	cfg   SessionConfig
	store SessionStore
	reg   *Registry
	ask   *Asker
	deps  *sessionDeps
	log   *slog.Logger
	now   func() time.Time
	bg    tracked // tells made off a request (Delete's), which Shutdown waits for
}

// maxSessionLoads bounds the sessions loading at once (reading their
// checkpoint and log, replaying it): a session's bytes count against
// SEMVEC_MAX_SESSION_MEMORY_MB once it runs, so the budget can be passed by
// what this many sessions hold while they load (8 MiB each at most, at the
// defaults and 384 dimensions), never by a whole storm of cold requests.
const maxSessionLoads = 32

// NewSessions wires the session layer on root. ask must be an Asker on the
// same actor system (its Root set), and cfg.Dim the embedder's dimension;
// neither is checked here: a nil Asker panics on first use, and a Dim of 0
// refuses every Create (KindValidation "must be between 1 and 8192, got 0").
func NewSessions(root *actor.RootContext, store SessionStore, ask *Asker, cfg SessionConfig, log *slog.Logger, now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	if cfg.Engine == nil {
		cfg.Engine = engine.DefaultConfig
	}
	s := &Sessions{cfg: cfg, store: store, ask: ask, log: log, now: now}
	s.deps = &sessionDeps{store: store, writer: newSnapshotWriter(store, root, log), changes: newChangeLog(store, root, log),
		log: log, now: now}
	s.reg = NewRegistry("session", root, s.load, now)
	s.deps.registry = s.reg
	s.reg.max = cfg.MaxSessions
	s.reg.budget = cfg.MaxBytes
	s.reg.loading = make(chan struct{}, maxSessionLoads)
	s.reg.evict = func(_ string, pid *actor.PID) { s.ask.Root.Send(pid, &pb.Passivate{}) }
	s.reg.tenantOf = func(key string) string { owner, _ := splitKey(key); return owner }
	s.reg.exists = func(ctx context.Context, key string) error {
		owner, id := splitKey(key)
		return s.Exists(ctx, owner, id)
	}
	return s
}

// sendDriftTo makes the sessions send the drift events they detect to the
// cluster actors of clusters (the cluster layer's registry). Call it while
// wiring, before sessions run.
func (s *Sessions) sendDriftTo(clusters *Registry) { s.deps.clusters.Store(clusters) }

// Abandon ends the session layer's log and checkpoint goroutines without
// passivating any session or writing a checkpoint: what a crash does to
// them. It is for tests that simulate a crash in-process, after the actor
// system has been shut down (nothing is then queued that anyone waits for).
func (s *Sessions) Abandon() {
	s.deps.changes.close()
	s.deps.writer.close()
}

// Active is the number of sessions held in memory.
func (s *Sessions) Active() int { return s.reg.Active() }

// Held is what the sessions in memory hold, in bytes, as they estimate it
// (counted only under a byte budget, SessionConfig.MaxBytes).
func (s *Sessions) Held() int64 { held, _ := s.reg.Held(); return held }

// Dim is the embedding dimension of every session.
func (s *Sessions) Dim() int { return s.cfg.Dim }

// CheckImport reports whether stateDict (with the request's checksum, ""
// for none) would import, without touching any session: the import route
// asks before the change is logged, so a payload that would be refused
// (up to the import's body limit) costs no write. The session's actor
// checks it again when it applies it, with the session's dimension.
func (s *Sessions) CheckImport(stateDict []byte, checksum string) error {
	_, err := importable(stateDict, checksum)
	return err
}

// ImportBound is the length of the longest state_dict an import takes:
// twice the bound on an export of this server's sessions
// (engine.Config.ExportBound), so that an export still fits once a client
// has re-encoded it (Python's json escapes every non-ASCII character, 12
// bytes for an emoji where the bound counts 6 per character, and writes a
// float32 with up to 17 digits where it counts 16 bytes), but at most
// engine.MaxSnapshotBytes, above which engine.Import refuses.
func (s *Sessions) ImportBound() int64 {
	return int64(min(2*s.cfg.Engine(s.cfg.Dim).ExportBound(), engine.MaxSnapshotBytes))
}

// load reads owner's session id (key is ownedKey(owner, id)) for its actor,
// which takes the next fencing epoch of the session: from then on, the
// writes of any earlier activation (another process's, or this one's own
// that is still stopping) are refused.
func (s *Sessions) load(ctx context.Context, key string) (actor.Producer, error) {
	owner, id := splitKey(key)
	rec, err := s.store.ActivateSession(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	a, err := s.recover(ctx, rec)
	if err != nil {
		return nil, err
	}
	if a.clusters, err = s.store.ClustersOfSession(ctx, owner, id); err != nil {
		return nil, err
	}
	return newSessionActor(a), nil
}

// recover rebuilds session rec's state: its latest checkpoint (or a new
// engine when it has none), then every log entry after it, replayed. A
// checkpoint that lands between the two reads (a passivation's, still
// queued) deletes entries this activation was about to replay, so the
// checkpoint is read again after the log and the reads are redone when it
// moved: log entries are only deleted by a newer checkpoint.
func (s *Sessions) recover(ctx context.Context, rec persistence.SessionRecord) (*sessionActor, error) {
	for attempt := 0; ; attempt++ {
		cp, err := s.store.LoadCheckpoint(ctx, rec.Owner, rec.ID)
		if err != nil && semvec.KindOf(err) != semvec.KindNotFound {
			return nil, err
		}
		entries, err := s.store.LoadLog(ctx, rec.Owner, rec.ID, cp.Seq)
		if err != nil {
			return nil, err
		}
		again, err := s.store.LoadCheckpoint(ctx, rec.Owner, rec.ID)
		if err != nil && semvec.KindOf(err) != semvec.KindNotFound {
			return nil, err
		}
		if again.Seq != cp.Seq && attempt < 10 {
			continue
		}
		return s.rebuild(rec, cp, entries)
	}
}

// rebuild is the actor of rec from checkpoint cp (none when cp.Data is nil)
// and the log entries that follow it.
func (s *Sessions) rebuild(rec persistence.SessionRecord, cp persistence.Checkpoint, entries []persistence.LogEntry) (*sessionActor, error) {
	a := &sessionActor{id: rec.ID, owner: rec.Owner, incarnation: rec.Incarnation, kind: cmp.Or(rec.Kind, persistence.SessionKindSession), epoch: rec.Epoch, deps: s.deps}
	var err error
	if cp.Data != nil {
		if a.eng, err = engine.UnmarshalBinary(cp.Data); err != nil {
			return nil, semvec.Wrap(semvec.KindInternal, err, "session checkpoint is corrupt")
		}
	} else if a.eng, err = s.newEngine(rec); err != nil {
		return nil, err
	}
	a.seq, a.logged, a.checkpoint = cp.Seq, cp.Seq, cp.Seq
	if err := a.replay(entries); err != nil {
		return nil, err
	}
	a.logged = a.seq
	return a, nil
}

type sessionOptions struct {
	ModelName         string `json:"model_name,omitempty"`
	UseAttention      bool   `json:"use_attention"`
	UseCache          bool   `json:"use_cache"`
	UseMetaPSS        bool   `json:"use_meta_pss"`
	UseCortex         bool   `json:"use_cortex"`
	EnableTopicSwitch bool   `json:"enable_topic_switch"`
	// The context knobs in force when the session was created (the
	// caller's, else the server's), so that a session rebuilt from its log
	// renders (and counts accesses) as it did, whatever the server's
	// settings are now. 0 (a record from before the knobs): the engine's
	// defaults, the only values there were.
	ContextTopK        int `json:"context_top_k,omitempty"`
	ContextBudgetChars int `json:"context_budget_chars,omitempty"`
}

func (s *Sessions) newEngine(rec persistence.SessionRecord) (*engine.Session, error) {
	var o sessionOptions
	o.EnableTopicSwitch = true
	if len(rec.Options) > 0 {
		if err := json.Unmarshal(rec.Options, &o); err != nil {
			return nil, semvec.Wrap(semvec.KindInternal, err, "session options are corrupt")
		}
	}
	cfg := s.cfg.Engine(rec.Dimension)
	cfg.UseAttention = o.UseAttention
	cfg.EnableTopicSwitch = o.EnableTopicSwitch
	legacy := engine.DefaultConfig(rec.Dimension)
	cfg.ContextTopK, cfg.ContextBudgetChars = cmp.Or(o.ContextTopK, legacy.ContextTopK), cmp.Or(o.ContextBudgetChars, legacy.ContextBudgetChars)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return engine.New(cfg), nil
}

// createLookupTimeout bounds Create's look, in cluster mode, for the
// member that owns a new session.
const createLookupTimeout = time.Second

// Create records a new session owned by owner and starts its actor. The
// owner must name a tenant as a licence subject does (semvec.ValidSubject),
// else the error is KindInvalid. A ctx already done when Create is called
// creates nothing (see notSent).
func (s *Sessions) Create(ctx context.Context, owner string, opts CreateOptions) (string, error) {
	if err := semvec.ValidSubject(owner); err != nil {
		return "", semvec.Wrap(semvec.KindInvalid, err, "invalid owner: it must name a tenant as a licence subject does")
	}
	if err := checkPolicyVectors(opts.Policy); err != nil {
		return "", err
	}
	if s.reg.Closed() {
		return "", errShuttingDown
	}
	id := opts.ID
	if id == "" {
		id = NewID()
	} else if !ValidID(id) {
		return "", semvec.FieldError("session_id", "session_id must be 1-128 characters of letters, digits and -_.: (not only dots)")
	}
	o := sessionOptions{ModelName: opts.ModelName, UseAttention: opts.UseAttention, UseCache: opts.UseCache,
		UseMetaPSS: opts.UseMetaPSS, UseCortex: opts.UseCortex, EnableTopicSwitch: true}
	o.ContextTopK, o.ContextBudgetChars = s.contextKnobs(opts.ContextTopK, opts.ContextBudgetChars)
	if o.ModelName == "" {
		o.ModelName = s.cfg.ModelName
	}
	if opts.EnableTopicSwitch != nil {
		o.EnableTopicSwitch = *opts.EnableTopicSwitch
	}
	raw, _ := json.Marshal(o)
	kind := cmp.Or(opts.Kind, persistence.SessionKindSession)
	switch kind {
	case persistence.SessionKindSession, persistence.SessionKindCluster, persistence.SessionKindRegionMeta, persistence.SessionKindObserverMeta:
	default:
		return "", semvec.Errorf(semvec.KindInvalid, "unknown session kind %q", kind)
	}
	now := s.now().UTC()
	// The actor started here is the session's first activation: epoch 1.
	rec := persistence.SessionRecord{ID: id, Owner: owner, Incarnation: persistence.NewIncarnation(), Epoch: 1, Kind: kind,
		Dimension: s.cfg.Dim, ModelName: o.ModelName, Options: raw, CreatedAt: now, UpdatedAt: now}
	eng, err := s.newEngine(rec)
	if err != nil {
		return "", err
	}
	if len(opts.Template) > 0 {
		if err := eng.SetStateVector(opts.Template); err != nil {
			return "", asRequestField(err, "template_embedding", "")
		}
	}
	for i, p := range opts.Policy {
		if _, err := eng.AddWeightedAnchor(p.Embedding, p.weight()); err != nil {
			return "", asRequestField(err, fmt.Sprintf("policy_vectors.%d.embedding", i), fmt.Sprintf("policy_vectors[%d].embedding: ", i))
		}
	}
	// A template or policy anchors are committed with the row, so whoever
	// activates the session from the database sees them.
	shaped := len(opts.Template) > 0 || len(opts.Policy) > 0
	if err := ctx.Err(); err != nil {
		return "", notSent(err, "before the session was created")
	}
	if shaped {
		data, err := eng.MarshalBinary()
		if err != nil {
			return "", err
		}
		err = s.store.CreateSessionWithSnapshot(ctx, rec, data, now)
		if err != nil {
			return "", err
		}
	} else if err := s.store.CreateSession(ctx, rec); err != nil {
		return "", err
	}
	// In cluster mode the session's actor lives on the member that owns its
	// id: that member activates it from the database on first use. Looking
	// it up only tells whether it is this member, so it gets a second at
	// most (while the membership changes a lookup can wait 5 s, and the
	// request's first ask would wait as long again).
	if p := s.reg.place.Load(); p != nil {
		lctx, cancel := context.WithTimeout(ctx, createLookupTimeout)
		remote, err := p.lookup(lctx, s.reg, ownedKey(owner, id))
		cancel()
		if remote != nil || err != nil {
			return id, nil
		}
	}
	// A concurrent request of the same owner may already have activated the
	// committed session from the database (same state): that is fine.
	a := &sessionActor{id: id, owner: owner, incarnation: rec.Incarnation, kind: kind, epoch: rec.Epoch, eng: eng, deps: s.deps}
	// A registry closed meanwhile (shutdown) spawns nothing: the session is
	// committed, and its id is the answer.
	if _, err := s.reg.Spawn(ownedKey(owner, id), newSessionActor(a)); err != nil && semvec.KindOf(err) != semvec.KindConflict && !errors.Is(err, errShuttingDown) {
		return "", err
	}
	return id, nil
}

// contextKnobs are a new session's context top-k and budget: the caller's
// where given (non-zero), else the server's.
func (s *Sessions) contextKnobs(topK, budget int) (int, int) {
	def := s.cfg.Engine(s.cfg.Dim)
	return cmp.Or(topK, def.ContextTopK), cmp.Or(budget, def.ContextBudgetChars)
}

// NewRecord returns the record Create would write, for callers (the
// cluster and region layers) that insert it in their own transaction; the
// actor is activated lazily on first use.
func (s *Sessions) NewRecord(owner, id, kind string) persistence.SessionRecord {
	o := sessionOptions{ModelName: s.cfg.ModelName, EnableTopicSwitch: true}
	o.ContextTopK, o.ContextBudgetChars = s.contextKnobs(0, 0)
	raw, _ := json.Marshal(o)
	now := s.now().UTC()
	return persistence.SessionRecord{ID: id, Owner: owner, Incarnation: persistence.NewIncarnation(), Kind: kind,
		Dimension: s.cfg.Dim, ModelName: s.cfg.ModelName, Options: raw, CreatedAt: now, UpdatedAt: now}
}

// backsLayer returns what a layer's meta session of kind backs ("" for an
// ordinary session or a cluster's backing session). Meta sessions are the
// layers' own: they take no part in the network and are no cluster's
// members.
func backsLayer(kind string) string {
	switch kind {
	case persistence.SessionKindRegionMeta:
		return "a region"
	case persistence.SessionKindObserverMeta:
		return "the caller's observer"
	}
	return ""
}

// Delete removes a session: its record first (so it cannot be re-activated),
// then its actor, without saving, and the snapshot writes still queued for
// it (which could not land anyway: their incarnation is gone with the row).
// The clusters it was a member of are told, as after a member's removal: a
// session created again under its id is not their member. A deletion that
// fails without saying why (the database did not answer) stops the actor
// too. After Shutdown it deletes nothing (KindUnavailable), and a ctx
// already done when it is called deletes nothing either (see notSent).
func (s *Sessions) Delete(ctx context.Context, owner, id string) error {
	if s.reg.Closed() {
		return errShuttingDown
	}
	if err := ctx.Err(); err != nil {
		return notSent(err, "before the session was deleted")
	}
	rec, err := s.store.GetSession(ctx, owner, id)
	if err != nil {
		return err
	}
	if rec.Kind != "" && rec.Kind != "session" {
		why := map[string]string{
			persistence.SessionKindCluster:      "backs a cluster; delete the cluster instead",
			persistence.SessionKindRegionMeta:   "backs a region; delete the region instead",
			persistence.SessionKindObserverMeta: "backs the caller's observer, which is never deleted",
		}[rec.Kind]
		return semvec.Errorf(semvec.KindConflict, "Session %s %s", id, cmp.Or(why, "backs a layer entity"))
	}
	member, merr := s.store.ClustersOfSession(ctx, owner, id) // to tell them should the outcome be unknown
	unlinked, err := s.store.DeleteSession(ctx, owner, id)
	if err != nil {
		if outcomeUnknown(err) {
			// The COMMIT may have landed, its answer lost. The actor stops
			// (not discarded: the changes in flight may have landed too,
			// and are answered 503, not 404), so that the next request
			// serves what the database holds (404 once the deletion
			// landed) instead of a deleted session from memory; every
			// change it acknowledged is in its log. Its clusters reload
			// their members, keeping their view while the database does
			// not answer.
			s.reg.Halt(ctx, ownedKey(owner, id), false)
			if clusters := s.deps.clusters.Load(); clusters != nil && merr == nil && len(member) > 0 {
				// Off the request (its 503 does not wait for their reloads,
				// each bounded); not once Shutdown waits (they are stopping).
				s.bg.run(func() {
					for _, cid := range member {
						tellChanged(context.Background(), s.ask, clusters, ownedKey(owner, cid), s.deps.log, true)
					}
				})
			}
		}
		return err
	}
	s.Discard(ctx, owner, id)
	if clusters := s.deps.clusters.Load(); clusters != nil {
		for _, cid := range unlinked.Clusters {
			tellChanged(ctx, s.ask, clusters, ownedKey(owner, cid), s.deps.log, false)
		}
	}
	return nil
}

// Discard stops the actor of owner's session id without saving (its record
// is already gone); the actor cancels the snapshot writes still queued for
// it. An inactive session has none: passivation waits for its own write.
func (s *Sessions) Discard(ctx context.Context, owner, id string) {
	s.reg.Halt(ctx, ownedKey(owner, id), true)
}

// Exists checks that owner owns session id, without activating it.
func (s *Sessions) Exists(ctx context.Context, owner, id string) error {
	_, err := s.store.GetSession(ctx, owner, id)
	return err
}

// Notify sends a fire-and-forget message to owner's session id, activating
// it when needed.
func (s *Sessions) Notify(ctx context.Context, owner, id string, msg proto.Message) error {
	reg := s.reg
	e, err := reg.lookup(ctx, ownedKey(owner, id))
	if err != nil {
		return err
	}
	s.ask.Root.Send(e.pid, msg)
	reg.unpin(e) // sent: an eviction's stop comes after it
	return nil
}

// OwnedRequest is a request to a session; its owner and the session id name
// the session (ids are scoped by owner).
type OwnedRequest interface {
	proto.Message
	GetOwner() string
}

// AskSession sends req to the session id of req's owner (activating it when
// needed) and waits for its reply. When the actor stopped before it handled
// req (passivation), it is re-activated and asked again. A nil req is
// KindInvalid; a ctx already done when AskSession is called sends nothing
// (see notSent).
func AskSession[R Reply](ctx context.Context, s *Sessions, id string, req OwnedRequest) (R, error) {
	var zero R
	if isNil(req) {
		return zero, errNilRequest
	}
	if err := ctx.Err(); err != nil {
		outcome := "canceled"
		if !errors.Is(err, context.Canceled) {
			outcome = "timeout"
		}
		if s.ask.Observer != nil { // as ask does for a context done before the ask
			s.ask.Observer(string(req.ProtoReflect().Descriptor().Name()), 0, outcome)
		}
		return zero, notSent(err, "before the request was sent to the session")
	}
	return askSession[R](ctx, s, id, req)
}

// askSession is AskSession without its checks of the caller's arguments,
// for the layers' own asks: a step of theirs whose context is done is not
// a call that did nothing (its operation may have done some steps), and
// keeps the errors ask gives it.
func askSession[R Reply](ctx context.Context, s *Sessions, id string, req OwnedRequest) (R, error) {
	var zero R
	if !ValidID(id) {
		return zero, semvec.NotFound("Session")
	}
	return askActor[R](ctx, s.ask, s.reg, ownedKey(req.GetOwner(), id), req)
}

// Sweep passivates idle sessions and those beyond the cap, and asks the rest
// to flush their snapshots when dirty. The server calls it every cfg.Sweep.
func (s *Sessions) Sweep(ctx context.Context) (passivated int) {
	idle := s.reg.Candidates(s.now().Add(-s.cfg.IdleTTL), s.cfg.MaxSessions)
	for _, id := range idle {
		if pid := s.reg.Stop(id); pid != nil {
			s.ask.Root.Send(pid, &pb.Passivate{})
			passivated++
		}
	}
	pids := s.reg.PIDs()
	pause := flushPause(len(pids), s.cfg.Sweep)
	sent := 0
	for _, pid := range pids {
		s.ask.Root.Send(pid, &pb.Flush{})
		if sent++; sent%flushBatch == 0 && pause > 0 {
			select {
			case <-ctx.Done():
				return passivated
			case <-time.After(pause):
			}
		}
	}
	return passivated
}

// flushBatch is how many sessions a sweep asks to flush at once.
const flushBatch = 32

// flushPause is the pause between two flush batches of a sweep over n
// sessions: snapshots are encoded on the session workers, so a thousand
// sessions asked at the same instant would hold up every request for the
// length of the burst (a p99 spike once per sweep). Batches are spread over
// at most a quarter of the sweep interval, with at most 5 ms between two.
func flushPause(n int, sweep time.Duration) time.Duration {
	batches := (n + flushBatch - 1) / flushBatch
	if batches <= 1 || sweep <= 0 {
		return 0
	}
	return min(5*time.Millisecond, sweep/4/time.Duration(batches))
}

// Run sweeps every cfg.Sweep until ctx ends.
func (s *Sessions) Run(ctx context.Context) {
	if s.cfg.Sweep <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.Sweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := s.Sweep(ctx); n > 0 {
				s.log.Debug("passivated idle sessions", "count", n)
			}
		}
	}
}

// Shutdown passivates every active session (each saves its snapshot) and
// waits for them to stop, or for ctx to end.
func (s *Sessions) Shutdown(ctx context.Context) error {
	s.reg.Close() // what arrives now (from other members) is told to retry
	pids := s.reg.PIDs()
	for id := range pids {
		if pid := s.reg.Stop(id); pid != nil {
			s.ask.Root.Send(pid, &pb.Passivate{})
		}
	}
	for id := range pids {
		s.reg.WaitStopped(ctx, id)
	}
	_ = s.bg.closeWithin(ctx) // past ctx, the error below says so
	s.deps.changes.close()
	s.deps.writer.closeWithin(ctx)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sessions did not all stop: %w", err)
	}
	return nil
}

// IDPattern is ValidID as a regular expression (PCRE), for 422 messages.
const IDPattern = `^(?!\.+$)[A-Za-z0-9._:-]{1,128}$`

// NewID returns a random UUID-4 string.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ValidID reports whether id can name a resource: 1–128 characters of
// letters, digits, '-', '_', '.' and ':' (IDPattern), not dots alone: "."
// and ".." are path segments that clients and proxies resolve away, so
// /v1/session/./trigger would reach another resource.
func ValidID(id string) bool { return validName(id, "") }

// validName reports whether name is 1–128 of letters, digits, "-_.:" and
// the characters of extra, and not dots alone.
func validName(name, extra string) bool {
	if len(name) == 0 || len(name) > 128 || strings.Trim(name, ".") == "" {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		case strings.ContainsRune(extra, c):
		default:
			return false
		}
	}
	return true
}

// UserIDPattern is ValidUserID as a regular expression (PCRE), for 422
// messages.
const UserIDPattern = `^(?!\.+$)[A-Za-z0-9._:@+-]{1,128}$`

// ValidUserID reports whether user can name a network user partition: as
// ValidID, and '@' and '+' too, so that an e-mail address can name its user.
func ValidUserID(user string) bool { return validName(user, "@+") }

// auditTimeout bounds an audit row written after its action succeeded
// (Sessions.Audit): the answer waits for it, and a slow database must not
// hold a 2xx for a whole database operation's bound.
const auditTimeout = time.Second

// Audit records who did what to which resource; failures are logged, not
// returned, because the action itself already succeeded. The write outlives
// the caller's cancellation (a client that went away after the action has
// still done it) but not auditTimeout.
func (s *Sessions) Audit(ctx context.Context, subject, action, resourceType, resourceID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if err := s.store.Audit(ctx, persistence.AuditEntry{At: s.now().UTC(), Subject: subject, Action: action, ResourceType: resourceType, ResourceID: resourceID}); err != nil {
		s.log.Warn("audit write failed", "action", action, "resource_id", resourceID, "err", err)
	}
}

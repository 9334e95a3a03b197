package membership

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Defaults for the zero values of Config.
const (
	DefaultEndpoint    = "127.0.0.1:2379"
	DefaultPrefix      = "/semvec/members"
	DefaultTTL         = 5 * time.Second
	DefaultDialTimeout = 3 * time.Second
)

// Bounds checked by Config.validate.
const (
	// MinTTL is etcd's own minimum lease TTL with its default election
	// timeout (1 s): a shorter lease is silently lengthened by the server.
	MinTTL         = 2 * time.Second
	MaxTTL         = time.Hour
	MinDialTimeout = 100 * time.Millisecond
	MaxDialTimeout = time.Minute
)

// Config configures a Provider. The zero value of each field means its
// default; New validates the result.
type Config struct {
	// Endpoints are etcd client addresses, "host:port" or
	// "http://host:port" (TLS is not supported). Default DefaultEndpoint.
	Endpoints []string

	// Prefix is the etcd key under which every cluster keeps its members:
	// a member's key is Prefix/<cluster name>/<member id>. It starts with
	// "/" and does not end with one. Default DefaultPrefix.
	Prefix string

	// TTL is the lease that keeps a member's key alive, in whole seconds
	// between MinTTL and MaxTTL. A member that stops refreshing it (killed,
	// paused, cut off from etcd) leaves the others' member lists about TTL
	// later. The lease is refreshed every TTL/3. Default DefaultTTL.
	TTL time.Duration

	// DialTimeout bounds start-up (connect, register, first read): with
	// etcd down, StartMember fails after it instead of hanging. It also
	// bounds each later request to etcd (the lease refresh to at most
	// TTL/3). Between MinDialTimeout and MaxDialTimeout; default
	// DefaultDialTimeout.
	DialTimeout time.Duration

	// OnSelfLost is called once, in its own goroutine, when this member's
	// registration is gone from etcd while it runs (its lease expired or
	// was revoked, or its key was deleted). Its peers have then dropped it
	// from their member lists, and protoactor never lets a member ID that
	// left join again, so the member cannot recover in place: the intended
	// callback makes the process exit so that its supervisor restarts it
	// (under a new member ID). When nil, the provider logs an error and
	// registers the member again, which only peers that never saw it leave
	// (new ones) will accept.
	OnSelfLost func()

	// Logger receives the provider's own log lines (etcd lost and back,
	// self lost, watch restarts). Default: the actor system's logger.
	Logger *slog.Logger
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if len(c.Endpoints) == 0 {
		c.Endpoints = []string{DefaultEndpoint}
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	return c
}

// Validate reports the first knob that New would reject (zero fields take
// their defaults), so that a caller can check its configuration early.
func (c Config) Validate() error { return c.withDefaults().validate() }

// ValidateClusterName reports whether name can name a cluster: it becomes
// one segment of the members' etcd keys.
func ValidateClusterName(name string) error { return validClusterName(name) }

// validate reports the first knob that is out of range.
func (c Config) validate() error {
	for _, e := range c.Endpoints {
		if err := validEndpoint(e); err != nil {
			return fmt.Errorf("membership: endpoint %q: %w", e, err)
		}
	}
	if err := validKey(c.Prefix); err != nil {
		return fmt.Errorf("membership: prefix %q: %w", c.Prefix, err)
	}
	if c.TTL < MinTTL || c.TTL > MaxTTL || c.TTL%time.Second != 0 {
		return fmt.Errorf("membership: TTL %v: must be whole seconds between %v and %v", c.TTL, MinTTL, MaxTTL)
	}
	if c.DialTimeout < MinDialTimeout || c.DialTimeout > MaxDialTimeout {
		return fmt.Errorf("membership: dial timeout %v: must be between %v and %v", c.DialTimeout, MinDialTimeout, MaxDialTimeout)
	}
	return nil
}

func validEndpoint(e string) error {
	hostPort := strings.TrimPrefix(e, "http://")
	if strings.Contains(hostPort, "://") {
		return fmt.Errorf(`want "host:port" or "http://host:port"`)
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q: want 1-65535", port)
	}
	return nil
}

// validKey accepts an absolute etcd key path: "/a/b", no empty segment,
// no trailing "/", printable non-space characters, at most 256 bytes.
func validKey(k string) error {
	switch {
	case !strings.HasPrefix(k, "/") || len(k) < 2:
		return fmt.Errorf(`must start with "/" and name something`)
	case strings.HasSuffix(k, "/") || strings.Contains(k, "//"):
		return fmt.Errorf(`must not end with "/" or contain "//"`)
	case len(k) > 256:
		return fmt.Errorf("longer than 256 bytes")
	case strings.IndexFunc(k, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0:
		return fmt.Errorf("contains a space or a control character")
	}
	return nil
}

// validClusterName accepts a cluster name usable as one key segment.
func validClusterName(name string) error {
	if err := validKey("/" + name); err != nil || strings.Contains(name, "/") {
		return fmt.Errorf(`membership: cluster name %q: want a non-empty name without "/", spaces or control characters`, name)
	}
	return nil
}

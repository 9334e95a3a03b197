package actors

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// changeOf returns the log entry of req when req changes the session's
// state, nil when it only reads it. A request's time is fixed here (when the
// caller did not set it), so that replaying the entry redoes the change
// exactly: the entry carries the vectors and the time, never a text to
// embed again.
func changeOf(req OwnedRequest, now func() time.Time) *pb.SessionChange {
	stamp := func(ns *int64) {
		if *ns == 0 {
			*ns = now().UnixNano()
		}
	}
	switch m := req.(type) {
	case *pb.RunRequest:
		stamp(&m.NowUnixNano)
		return &pb.SessionChange{Change: &pb.SessionChange_Run{Run: m}}
	case *pb.StoreRequest:
		stamp(&m.NowUnixNano)
		return &pb.SessionChange{Change: &pb.SessionChange_Store{Store: m}}
	case *pb.ReleaseRequest:
		stamp(&m.NowUnixNano)
		return &pb.SessionChange{Change: &pb.SessionChange_Release{Release: m}}
	case *pb.InjectMemoryRequest:
		stamp(&m.NowUnixNano)
		return &pb.SessionChange{Change: &pb.SessionChange_Inject{Inject: m}}
	case *pb.ContextRequest: // counts accesses
		return &pb.SessionChange{Change: &pb.SessionChange_Context{Context: m}}
	case *pb.ListEntitiesRequest:
		if strings.TrimSpace(m.GetQ()) == "" {
			return nil // listing counts nothing
		}
		return &pb.SessionChange{Change: &pb.SessionChange_ListEntities{ListEntities: m}}
	case *pb.TriggerRequest:
		return &pb.SessionChange{Change: &pb.SessionChange_Trigger{Trigger: m}}
	case *pb.AnchorRequest:
		return &pb.SessionChange{Change: &pb.SessionChange_Anchor{Anchor: m}}
	case *pb.IsolationRequest:
		return &pb.SessionChange{Change: &pb.SessionChange_Isolation{Isolation: m}}
	case *pb.ImportRequest:
		return &pb.SessionChange{Change: &pb.SessionChange_ImportState{ImportState: m}}
	case *pb.PutEntityRequest:
		return &pb.SessionChange{Change: &pb.SessionChange_PutEntity{PutEntity: m}}
	case *pb.DeleteEntityRequest:
		return &pb.SessionChange{Change: &pb.SessionChange_DeleteEntity{DeleteEntity: m}}
	case *pb.BlendRequest:
		return &pb.SessionChange{Change: &pb.SessionChange_Blend{Blend: m}}
	case *pb.ExportRequest: // replaces the Verify reference
		if m.GetKeepReference() {
			return nil
		}
		return &pb.SessionChange{Change: &pb.SessionChange_Export{Export: m}}
	}
	return nil
}

// requestOf is the request a log entry recorded.
func requestOf(c *pb.SessionChange) (OwnedRequest, error) {
	switch m := c.GetChange().(type) {
	case *pb.SessionChange_Run:
		return m.Run, nil
	case *pb.SessionChange_Store:
		return m.Store, nil
	case *pb.SessionChange_Release:
		return m.Release, nil
	case *pb.SessionChange_Inject:
		return m.Inject, nil
	case *pb.SessionChange_Context:
		return m.Context, nil
	case *pb.SessionChange_ListEntities:
		return m.ListEntities, nil
	case *pb.SessionChange_Trigger:
		return m.Trigger, nil
	case *pb.SessionChange_Anchor:
		return m.Anchor, nil
	case *pb.SessionChange_Isolation:
		return m.Isolation, nil
	case *pb.SessionChange_ImportState:
		return m.ImportState, nil
	case *pb.SessionChange_PutEntity:
		return m.PutEntity, nil
	case *pb.SessionChange_DeleteEntity:
		return m.DeleteEntity, nil
	case *pb.SessionChange_Blend:
		return m.Blend, nil
	case *pb.SessionChange_Export:
		return m.Export, nil
	}
	return nil, fmt.Errorf("unknown change %T", c.GetChange())
}

// apply does what req asks on the state and builds the reply. live is false
// while replaying the log: the change is redone, nothing is told to anyone.
func (a *sessionActor) apply(req OwnedRequest, live bool) (Reply, error) {
	switch m := req.(type) {
	case *pb.RunRequest:
		return a.run(m, live)
	case *pb.RankRequest:
		return a.rank(m)
	case *pb.StoreRequest:
		return a.store(m)
	case *pb.MetricsRequest:
		return a.metrics(), nil
	case *pb.ContextRequest:
		return a.context(m), nil
	case *pb.MemoryRequest:
		return a.memory(m)
	case *pb.TriggerRequest:
		return a.trigger(m)
	case *pb.AnchorRequest:
		return a.anchor(m)
	case *pb.AnchorScoreRequest:
		return a.anchorScore(), nil
	case *pb.IsolationRequest:
		return a.isolation(m)
	case *pb.ReleaseRequest:
		return a.release(m), nil
	case *pb.InjectMemoryRequest:
		return a.inject(m)
	case *pb.ExportRequest:
		if !live { // replay: only the Verify reference it replaced matters
			return nil, a.eng.TakeReference()
		}
		return a.export(m.GetKeepReference())
	case *pb.ImportRequest:
		return a.importState(m)
	case *pb.VerifyRequest:
		return a.verify(m)
	case *pb.PutEntityRequest:
		return a.putEntity(m)
	case *pb.ListEntitiesRequest:
		return a.listEntities(m), nil
	case *pb.DeleteEntityRequest:
		return a.deleteEntity(m)
	case *pb.StateRequest:
		return a.state(), nil
	case *pb.BlendRequest:
		return a.blend(m)
	}
	return nil, semvec.Errorf(semvec.KindInternal, "session: unexpected request %T", req)
}

// replay redoes the log entries that follow the checkpoint the actor was
// built from. Entries must continue the sequence without a gap. A change
// that failed when it was first applied fails again the same way and
// changes nothing, so its error is not one of replay's.
func (a *sessionActor) replay(entries []persistence.LogEntry) error {
	for _, e := range entries {
		if e.Seq != a.seq+1 {
			return semvec.Errorf(semvec.KindInternal, "session log has a gap: entry %d after %d", e.Seq, a.seq)
		}
		var c pb.SessionChange
		if err := decodeChange(e.Data, &c); err != nil {
			return semvec.Wrap(semvec.KindInternal, err, fmt.Sprintf("session log entry %d is corrupt", e.Seq))
		}
		req, err := requestOf(&c)
		if err != nil {
			return semvec.Wrap(semvec.KindInternal, err, fmt.Sprintf("session log entry %d is corrupt", e.Seq))
		}
		_, _ = a.apply(req, false)
		a.seq = e.Seq
	}
	return nil
}

// A log entry's data is the change's protobuf encoding with its runs of
// zero bytes shortened (entryZeroRuns, one marker byte before it), or the
// plain encoding when that is not shorter. The vectors of the built-in
// hashing embedder are mostly zeros, so a turn's entry shrinks to a third;
// a dense embedder's vectors have next to no zero bytes and stay plain.
// compress/flate shrinks an entry further but cost ten times the CPU of
// the whole encoding per entry (its Huffman tables are built for every
// block), on the path of every request.
//
// A protobuf message never starts with a byte below 8 (that would be field
// number 0), so the marker tells the formats apart, and the entries written
// before it existed (always plain) replay unchanged.
const entryZeroRuns byte = 1

// encodeChange is the log entry data of c.
func encodeChange(c *pb.SessionChange) ([]byte, error) {
	plain, err := proto.Marshal(c)
	if err != nil {
		return nil, err
	}
	packed := appendZeroRuns(append(make([]byte, 0, len(plain)), entryZeroRuns), plain)
	if len(packed) >= len(plain) {
		return plain, nil
	}
	return packed, nil
}

// decodeChange decodes log entry data written by encodeChange, or by a
// version that stored the plain encoding.
func decodeChange(data []byte, c *pb.SessionChange) error {
	if len(data) == 0 || data[0] >= 8 {
		return proto.Unmarshal(data, c)
	}
	if data[0] != entryZeroRuns {
		return fmt.Errorf("unknown log entry format %d", data[0])
	}
	plain, err := expandZeroRuns(make([]byte, 0, 4*len(data)), data[1:])
	if err != nil {
		return err
	}
	return proto.Unmarshal(plain, c)
}

// appendZeroRuns appends src to dst with every run of zero bytes (at most
// 255 long) written as a zero byte and the run's length.
func appendZeroRuns(dst, src []byte) []byte {
	for {
		i := bytes.IndexByte(src, 0)
		if i < 0 {
			return append(dst, src...)
		}
		dst, src = append(dst, src[:i]...), src[i:]
		n := 1
		for n < len(src) && n < 255 && src[n] == 0 {
			n++
		}
		dst, src = append(dst, 0, byte(n)), src[n:]
	}
}

var errZeroRuns = errors.New("log entry: invalid run of zero bytes")

// expandZeroRuns appends to dst what appendZeroRuns encoded as src.
func expandZeroRuns(dst, src []byte) ([]byte, error) {
	for {
		i := bytes.IndexByte(src, 0)
		if i < 0 {
			return append(dst, src...), nil
		}
		if i+1 == len(src) || src[i+1] == 0 {
			return nil, errZeroRuns
		}
		n := int(src[i+1])
		dst = append(dst, src[:i]...)
		dst = slices.Grow(dst, n)[:len(dst)+n]
		clear(dst[len(dst)-n:])
		src = src[i+2:]
	}
}

package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	semvec "github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/vecmath"
)

// Binary snapshot layout (passivation):
//
//	"SVGB" 0x03                       magic and version (0x02: format semvec-go/2, still read)
//	uvarint n, n bytes                 canonical JSON of binaryEnvelope with every vector removed
//	for each float32 slot, in order:   uvarint length, length × float32 little-endian
//	for each int8 slot, in order:      uvarint length, length bytes (two's complement)
//	crc32c                             Castagnoli CRC of everything before, little-endian
//
// The vector slots are listed by vectorSlots; their number follows from the
// JSON part. Decoding accepts only canonical input, so an accepted blob
// re-encodes to exactly the same bytes.
const binaryMagic = "SVGB\x03"

// binaryMagicV2 is the magic of format semvec-go/2 snapshots.
const binaryMagicV2 = "SVGB\x02"

// crcOf is the CRC-32C of b (crc32.MakeTable caches the Castagnoli table).
func crcOf(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

type binaryEnvelope struct {
	Snapshot snapshot `json:"s"`
	Ref      *refSnap `json:"r,omitempty"`
}

type refSnap struct {
	State   []float32      `json:"state,omitempty"`
	Entries []refEntrySnap `json:"entries,omitempty"`
}

// refEntrySnap is one Verify-reference memory. Shared means its key is
// identical to the live memory's with the same hash and is not repeated.
type refEntrySnap struct {
	Hash   string `json:"hash"`
	Shared bool   `json:"shared,omitempty"`
	Key    []int8 `json:"key,omitempty"`
}

// vectorSlots lists every vector field of env in encoding order: float32
// vectors, then int8 codes.
func vectorSlots(env *binaryEnvelope) (f32 []*[]float32, i8 []*[]int8) {
	sn := &env.Snapshot
	f32 = []*[]float32{&sn.State}
	for i := range sn.Triggers {
		f32 = append(f32, &sn.Triggers[i].Embedding)
	}
	for i := range sn.Anchors {
		f32 = append(f32, &sn.Anchors[i])
	}
	for i := range sn.Isolation.Exclusion {
		f32 = append(f32, &sn.Isolation.Exclusion[i])
	}
	for i := range sn.Isolation.Allowlist {
		f32 = append(f32, &sn.Isolation.Allowlist[i])
	}
	if env.Ref != nil {
		f32 = append(f32, &env.Ref.State)
	}
	if sn.Pending != nil {
		i8 = append(i8, &sn.Pending.Vec)
	}
	for i := range sn.Drift.Recent {
		i8 = append(i8, &sn.Drift.Recent[i])
	}
	for i := range sn.Memories {
		i8 = append(i8, &sn.Memories[i].Key)
	}
	for i := range sn.Shadow {
		i8 = append(i8, &sn.Shadow[i].Vec, &sn.Shadow[i].AnswerVec)
	}
	if env.Ref != nil {
		for i := range env.Ref.Entries {
			if !env.Ref.Entries[i].Shared {
				i8 = append(i8, &env.Ref.Entries[i].Key)
			}
		}
	}
	return f32, i8
}

// MarshalBinary encodes the whole session, including its Verify reference,
// compactly for passivation: vectors as raw float32 or int8, the rest as
// canonical JSON, protected by a CRC-32C. UnmarshalBinary restores it
// bit-exactly. It never writes what UnmarshalBinary would refuse for its
// size: above MaxSnapshotBytes it returns an error instead.
func (s *Session) MarshalBinary() ([]byte, error) {
	env := &binaryEnvelope{Snapshot: *s.snapshot()}
	if s.ref != nil {
		rs := &refSnap{State: s.ref.state}
		for _, e := range s.ref.entries {
			entry := refEntrySnap{Hash: e.hash, Key: e.key.k}
			if m := s.findHash(e.hash); m != nil && sameCodes(m.key.k, e.key.k) {
				entry.Shared, entry.Key = true, nil
			}
			rs.Entries = append(rs.Entries, entry)
		}
		env.Ref = rs
	}
	f32, i8 := vectorSlots(env)
	floats := make([][]float32, len(f32))
	codes := make([][]int8, len(i8))
	size := 0
	for i, p := range f32 {
		floats[i] = *p
		*p = nil
		size += binary.MaxVarintLen32 + 4*len(floats[i])
	}
	for i, p := range i8 {
		codes[i] = *p
		*p = nil
		size += binary.MaxVarintLen32 + len(codes[i])
	}
	meta, err := json.Marshal(env)
	if err != nil {
		return nil, semvec.Wrap(semvec.KindInternal, err, "snapshot encoding failed")
	}
	out := make([]byte, 0, len(binaryMagic)+binary.MaxVarintLen64+len(meta)+size+4)
	out = append(out, binaryMagic...)
	out = binary.AppendUvarint(out, uint64(len(meta)))
	out = append(out, meta...)
	for _, v := range floats {
		out = binary.AppendUvarint(out, uint64(len(v)))
		for _, x := range v {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(x))
		}
	}
	for _, k := range codes {
		out = binary.AppendUvarint(out, uint64(len(k)))
		for _, c := range k {
			out = append(out, byte(c))
		}
	}
	if len(out)+4 > MaxSnapshotBytes {
		// Unreachable under a configuration that passes Validate; a session
		// restored from a snapshot written before that bound could get here.
		return nil, semvec.Errorf(semvec.KindInternal, "session snapshot would take %d bytes, more than the %d UnmarshalBinary accepts",
			len(out)+4, MaxSnapshotBytes)
	}
	return binary.LittleEndian.AppendUint32(out, crcOf(out)), nil
}

// UnmarshalBinary restores a session written by MarshalBinary. Corrupt or
// non-canonical input is KindInvalid; it never panics.
func UnmarshalBinary(b []byte) (*Session, error) {
	s, err := unmarshalBinary(b)
	if err != nil {
		return nil, semvec.Errorf(semvec.KindInvalid, "malformed session snapshot: %s", err.Error())
	}
	return s, nil
}

func unmarshalBinary(b []byte) (*Session, error) {
	if len(b) > MaxSnapshotBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxSnapshotBytes)
	}
	if len(b) < len(binaryMagic)+4 {
		return nil, errors.New("bad magic")
	}
	var format string
	switch string(b[:len(binaryMagic)]) {
	case binaryMagic:
		format = SnapshotFormat
	case binaryMagicV2:
		format = snapshotFormatV2
	default:
		return nil, errors.New("bad magic")
	}
	body, tail := b[:len(b)-4], b[len(b)-4:]
	if crcOf(body) != binary.LittleEndian.Uint32(tail) {
		return nil, errors.New("checksum mismatch")
	}
	r := body[len(binaryMagic):]
	n, k := binary.Uvarint(r)
	if k <= 0 || n > uint64(len(r)-k) {
		return nil, errors.New("bad metadata length")
	}
	meta := r[k : k+int(n)]
	r = r[k+int(n):]
	var env binaryEnvelope
	if err := decodeStrict(meta, &env); err != nil {
		return nil, err
	}
	if again, err := json.Marshal(&env); err != nil || !bytes.Equal(again, meta) {
		return nil, errors.New("non-canonical metadata")
	}
	if env.Snapshot.Checksum != "" {
		return nil, errors.New("unexpected checksum field")
	}
	if env.Snapshot.Format != format {
		return nil, fmt.Errorf("format %q in a %q snapshot", env.Snapshot.Format, format)
	}
	f32, i8 := vectorSlots(&env)
	for _, p := range f32 {
		if *p != nil {
			return nil, errors.New("vector inside metadata")
		}
		n, k := binary.Uvarint(r)
		if k <= 0 || n > uint64(len(r)-k)/4 {
			return nil, errors.New("bad vector length")
		}
		r = r[k:]
		if n == 0 {
			continue
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(r[4*i:]))
		}
		*p = v
		r = r[4*n:]
	}
	for _, p := range i8 {
		if *p != nil {
			return nil, errors.New("vector inside metadata")
		}
		n, k := binary.Uvarint(r)
		if k <= 0 || n > uint64(len(r)-k) {
			return nil, errors.New("bad vector length")
		}
		r = r[k:]
		if n == 0 {
			continue
		}
		v := make([]int8, n)
		for i := range v {
			v[i] = int8(r[i])
		}
		*p = v
		r = r[n:]
	}
	if len(r) != 0 {
		return nil, errors.New("trailing data")
	}
	s, err := fromSnapshot(&env.Snapshot, fromPassivation, nil)
	if err != nil {
		return nil, err
	}
	if env.Ref != nil {
		ref, err := s.refFromSnap(env.Ref)
		if err != nil {
			return nil, err
		}
		s.ref = ref
	}
	return s, nil
}

// refFromSnap rebuilds a Verify reference, sharing keys marked Shared.
func (s *Session) refFromSnap(rs *refSnap) (*verifyRef, error) {
	dim := s.cfg.Dim
	ref := &verifyRef{}
	if len(rs.State) > 0 {
		if len(rs.State) != dim || !vecmath.Finite(rs.State) {
			return nil, errors.New("reference state invalid")
		}
		ref.state = rs.State
	}
	if len(rs.Entries) > s.cfg.ShortTermCap+s.cfg.MediumTermCap+s.cfg.LongTermCap {
		return nil, errors.New("too many reference entries")
	}
	for _, e := range rs.Entries {
		if len(e.Hash) > 64 {
			return nil, errors.New("reference hash too long")
		}
		m := s.findHash(e.Hash)
		switch {
		case e.Shared:
			if m == nil || e.Key != nil {
				return nil, errors.New("shared reference key without a live memory")
			}
			ref.entries = append(ref.entries, refEntry{e.Hash, m.key})
		default:
			if ok, _ := checkCodes(e.Key, dim); !ok {
				return nil, errors.New("reference key invalid")
			}
			if m != nil && sameCodes(m.key.k, e.Key) {
				return nil, errors.New("non-canonical reference key")
			}
			ref.entries = append(ref.entries, refEntry{e.Hash, qvec{e.Key, vecmath.NormI8(e.Key)}})
		}
	}
	return ref, nil
}

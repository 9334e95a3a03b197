// Package engine is the pure, deterministic semantic core of one semvec
// session: the state vector, tiered memory, drift detection, phases, the
// context block, triggers, anchors, input isolation, the literal cache, and
// snapshots. It does no I/O, starts no goroutines, reads no clock (callers
// pass the time in) and has no package-level mutable state. The one
// package-level variable is a sync.Pool of per-call scratch buffers (see
// "Footprint"): it carries nothing from one call to the next, so it cannot
// make one session's output depend on another. Text is embedded outside the
// engine; every method takes vectors of the session's dimension.
//
// A *Session is not safe for concurrent use. One goroutine (the session actor)
// owns it. Every method that returns an error leaves the session unchanged.
// This file records the behaviour chosen where the spec leaves room
// (functional-spec §7, Q1–Q6 and Q17).
//
// # Vectors
//
// Incoming vectors must have exactly Dim elements, all finite, and a non-zero
// norm. Otherwise the error is a KindValidation FieldError: "expected %d
// dimensions, got %d", "must contain only finite numbers" or "must not be the
// zero vector". The field is the request field: "message" and "response" for
// Run, "embedding" elsewhere. The state vector, anchors, triggers and
// isolation vectors are stored as unit-length float32 copies, normalised in
// float64. Memory keys, the pending question, the recent drift context and
// the shadow buffer are stored as int8 codes (see "Memory keys"). The Verify
// reference shares memory keys safely: before a key's codes are rewritten,
// a reference entry that shares them gets its own copy.
//
// # Memory keys
//
// A key is a unit direction stored as int8 codes: vecmath.QuantizeI8 (each
// element times 127/max|v|, rounded), with the integer norm cached. Scores
// are vecmath.CosineI8 of the key and the message's codes. The message is
// quantised once per turn. This is done for two reasons. A key takes a
// quarter of the bytes of float32 (384 instead of 1,536 at 384
// dimensions), and keys are most of a session's memory. The dot product is
// an exact integer, so every score is identical on every CPU, AVX2 or
// portable.
//
// The price is precision. A score differs from the float cosine of the
// original vectors by less than 0.01 (measured: below 0.003, mean 0.0004, on
// dense random vectors and on both embedders of the tests). Where a vector
// must be rebuilt (a centroid, a Q&A key, the pattern pull, a released
// shadow message), the codes are read as codes/‖codes‖, a unit vector.
// Quantising is scale-invariant, so sums are quantised without normalising
// them first.
//
// # Zero values mean "default"
//
// A zero Trigger.Threshold means 0.8. A zero IsolationPolicy.Threshold means
// 0.8. A zero InjectInput.Importance or Entity.Importance means 1.0. A zero
// Verify tolerance means 1e-3. An empty InjectInput.Tier means short_term.
// Importance must lie in [0, 10]. Thresholds must lie in (0, 1].
// ShortCircuitThreshold is the exception: 0 is meaningful there, so the
// caller supplies the default 0.85. Config has no zero defaults: build it with
// DefaultConfig. New panics on a config that fails Validate.
//
// # Turn flow (Run)
//
// These steps mirror the REST orchestration of spec §2.2.
//
//  1. Isolation check on the message (see Isolation).
//  2. If Response is not blank, it answers the previous message. It is stored
//     with the pending question as a Q&A memory. With no pending question it
//     is stored alone ("A: …"). It becomes the "Previous answer" of the context
//     block and joins the recent drift context.
//  3. A pending question that got no answer is stored alone as "U: …". So
//     nothing the user says is lost (Q1).
//  4. top_similarity is the maximum cosine of the message against every memory
//     key in all tiers. It is 0.0 without memories. short_circuit is
//     top_similarity >= ShortCircuitThreshold. These scores are computed once;
//     the pattern pull and the context block use them too.
//  5. Drift is measured before the message joins the state.
//  6. The message is folded into the state vector. The histories, fsm and
//     phase are updated. The turn counter advances.
//  7. The message becomes the pending question.
//  8. The context block is built for the message.
//
// RunResult.Turn is the 0-based index of the turn. Session.Turn() counts the
// accepted turns (interaction_count). After the first Run, Turn() is 1.
// Store pairs a response with the pending question outside a turn. It does not
// move the state vector. StorePair stores an explicit Q&A (cluster seeding).
// It bypasses isolation and leaves the pending question alone.
//
// # Memories
//
// A Q&A memory has the text "Q: <question>\nA: <answer>". Its key is
// q̂ + 0.3·â, quantised, so a paraphrase of the question still scores high;
// q̂ comes from the pending question's codes. A user-only memory ("U: …")
// takes the message's codes as its key. An answer-only memory ("A: …") uses
// the answer vector. Texts are clipped to
// MaxStoredChars characters (2000). memory_hash is the first 16 hex
// characters of the SHA-256 of the text with white space trimmed and
// collapsed. Hashes are unique within a session. Storing a text whose hash
// exists merges into the existing memory: access_count+1, importance = max,
// timestamp = now, recency refreshed. The key stays, and so does the tier,
// unless InjectMemory asks for a higher one: then the memory moves up to it
// as if injected there (never down), and InjectMemory reports the tier the
// text is in. A memory stored by a normal turn has importance 0.5. It has
// 1.0 when its question fired a trigger.
//
// # Tiers and retention
//
// New memories enter short_term (cap 15). Injected memories enter the
// requested tier. retention = 1.0·importance + 0.3·ln(1+w) +
// 0.5·exp(−age/10). age counts accepted turns since the memory was created
// or last merged. w is the decayed access weight: each access sets
// w = w·2^(−(turn−last)/AccessHalfLife) + 1 and last = turn, and retention
// reads w decayed to the current turn (AccessHalfLife 20; with 0, w is
// access_count and never fades). access_count still counts every access.
// Nothing depends on the wall clock, so replay is deterministic.
//
// Importance is 0.5 (1.0 when a trigger fired). With InfoImportance a Q&A
// memory whose answer brings novel tokens (found neither in its question
// nor in any stored memory) is worth more: importance = max(base,
// 0.5 + 0.5·min(novel, 3)/3). When the question is a statement (it does
// not end with a question mark, see statement) its own tokens found in no stored memory count
// too: a fact the user tells and the assistant only acknowledges ("Noted.")
// is new information in the message. A message stored alone ("U: …", it
// got no answer) that is a statement counts its new tokens the same way. Showing a memory is an access, so without the
// decay old memories shown often would hold the tiers for good ("lock-in")
// and push every new one out within a few turns.
//
// When short_term overflows, its member with the lowest retention leaves. The
// newest member never leaves. It moves to medium_term if its retention is at
// least 0.6. Otherwise it is forgotten. In practice the forgotten ones are
// old, never-read memories of low importance. When medium_term overflows (cap
// 30), its lowest-retention member is consolidated into long_term; with
// ForgetLowValue a member of base importance (≤ 0.5) whose decayed access
// weight is below 0.5 is forgotten instead, so long term keeps what is
// informative or in use.
//
// Consolidation works like this. The item becomes a new cluster when fewer
// than LongTermCap (20) clusters exist and no cluster has a key with cosine
// at least 0.55 to it. A memory injected into long_term (InjectMemory)
// becomes a new cluster whenever fewer than LongTermCap exist: only the
// same text merges into it. Otherwise the item is merged into the most
// similar cluster. A merge does the following:
//   - the key becomes the member-weighted centroid of the two keys (read as
//     unit vectors), quantised again;
//   - access counts add up, and so do the access weights (decayed to now);
//   - importance and recency take the maximum;
//   - unless the cluster already contains the item's text, the item is
//     appended as one line (its own line breaks become spaces, but the one
//     before a Q&A's answer), so every line of a merged text starts an item
//     except an "A: " line completing the "Q: " line before it; when it
//     does, the cluster's item equal to it (if any) moves last;
//   - the text keeps the newest: while it would exceed LongTermTextChars
//     (600), the oldest item is dropped whole. The item just merged is
//     always kept (clipped with "..." only when it is longer than the cap
//     on its own).
//
// A merge changes the cluster's hash. Every tier is therefore bounded, and so
// is the session's memory, whatever the turn count.
//
// # State update
//
// On the first turn S = x. Afterwards, with sim = cos(S, x):
//
//	β  = clamp(0.55 + 0.35·sim·(0.5 + 0.5·fsm), 0.05, 0.95)
//	β  = max(0.05, β·(1 − drift))   topic switch: EnableTopicSwitch and drift ≥ 0.5
//	β  = 0.05                       a trigger matched
//	S' = β·S + (1−β)·x + α_pat·(c − S) [+ 0.15·(anchor centroid − S) while realigning]
//
// c is the weighted centroid of the keys of the 3 memories most similar to x,
// read as unit vectors. The weights are the scores, or softmax(scores/0.1)
// with UseAttention. α_pat is 0.1·clamp(best score, 0, 1), and 0 without
// memories. The reported Norm is ‖S'‖ capped at 1.2. The stored state is S'
// normalised to unit length. If S' cancels out, the state restarts at x. The
// arithmetic is float64 in a fixed order, and storage is float32. The pull is
// evaluated as Σ (w_j/‖k_j‖)·k_j − (Σ w_j)·S on the integer codes k_j.
//
// Novelty is 1 − max(sim, top_similarity). fsm = 0.8·fsm +
// 0.2·clamp(min(norm,1)·(0.5 + 0.5·sim), 0, 1). It rises when updates keep
// both the state and the input (coherent turns). The histories of β,
// similarity, fsm, norm, drift and phase are bounded at HistoryLen (64)
// entries, oldest first. The numeric ones are stored as float32; Metrics
// reports each as the float64 of its shortest decimal form.
//
// # Drift (Q3)
//
// drift is computed from raw, the best cosine of the message against the
// state and the last 6 context vectors. The context vectors are the messages
// and answers of the last turns, kept as int8 codes and compared with the
// message's codes. raw is floored at 0. A relative measure is
// needed because the absolute cosines of a lexical embedder are small. The
// baseline ref is an EMA (weight 0.25) of raw over accepted turns. Values of
// raw above 0.6 count as 0.6 in ref, and ref is floored at 0.1. Then:
//
//	drift_score = clamp(1 − raw/(0.85·ref), 0, 1)        0 for turns 0 and 1
//
// A message is drifted when it reaches less than 42.5% of the usual
// similarity. drift_phase is a pure function of the score. stable < 0.3 ≤
// shifting < 0.5 ≤ drifted. drift_detected means score ≥ 0.5. Messages
// stopped by the isolation filter are scored read-only: they update nothing,
// including LastDrift.
//
// Calibration uses the lexical stand-in embedder of the tests. A 12-turn
// Kubernetes conversation stays at or below 0.38. An abrupt switch to baking
// scores 0.61, and the next turn is back at 0. With a lexical embedder, an
// on-topic question that shares almost no word with the last few turns can
// score like a switch. A real sentence embedder separates both cases better.
//
// # Phases
//
// Turns 0–10 are initialization. After that the rules apply in this order:
//   - instability: this turn drifted (≥ 0.5), or the last 3 drift scores
//     average ≥ 0.4;
//   - resonance: a trigger fired in the last 3 turns, or sim ≥ 0.9;
//   - stability: fsm > 0.7 and fsm moved less than 0.05 over the last 3 turns;
//   - convergence: the mean similarity of the last 3 turns exceeds that of the
//     3 before by more than 0.05;
//   - exploration: otherwise.
//
// # Context block
//
// The block is never longer than ContextBudgetChars characters (1400). The
// header is "[Semvec Context | Phase: <phase> | Turn <n> | <m> memories]".
// Sections follow in this order, each filled greedily:
//
//  1. a one-line "Hint: …" for the phase;
//  2. "Relevant context:" and numbered lines "  <i>. [<score>] <text>". These
//     are the top ContextTopK memories by cos(key, message) +
//     0.1·cos(key, anchor centroid) + LexicalWeight·bm25/max_bm25 (0.3). The
//     BM25 evidence is over the memories' texts as token hashes (lower-cased
//     alphanumeric runs, stop words out, light stemming, up to 64 per memory,
//     rebuilt on import), binary tf, k1 1.2, b 0.75, IDF over the current
//     memories. Without a reranker, a shown memory that supersedes one ranked
//     above it (a single statement stored later, holding every query token
//     that one holds, importance at least that one's or 0.8, and a score at
//     least 0.8 of its score or a key cosine to it at least 0.5: a
//     correction) moves right before it, shown with its score (supersede).
//     With a reranker (RunInput.Rerank) the scored candidates come
//     first, by its score. Each text is put on one line and clipped to
//     MaxMemoryChars with "..."; with FocusLine a merged memory that would be
//     clipped starts with its item (a line of its text, an "A:" line
//     belonging to the "Q:" line before it) holding the most query tokens
//     (IDF-weighted), then the rest in stored order. Stored text and hash do not change. Lines stop
//     at the first one that does not fit. Without memories the section is
//     "Relevant context: (none yet)";
//  3. "Code entities:" with up to 5 literal-cache entries that share a token
//     with the message, as "  <key> (<kind>): <value>";
//  4. "Previous answer:" with the last response clipped to the space left, at
//     most MaxLastResponseChars. It is left out when less than 40 characters
//     remain.
//
// Memories and entities shown in the block count as accessed
// (access_count+1, access weight +1). Blocks built for isolated messages do
// not. top_similarity, short_circuit, drift and the pattern pull use the
// pure cosine: the lexical evidence and the reranker only order the block.
//
// ContextItems (Q17) ranks memories against the accumulated state with the
// same anchor bias. Without a state it returns the most recent first: by
// timestamp, then by creation order, with relevance 0. Texts are clipped to
// maxChars (500). With fullFirst the first item is not clipped. Returned
// memories count as accessed. Memory (expand one hash) is a read and does not
// count.
//
// # Triggers (Q5)
//
// A keyword trigger fires when the keyword appears in the message as a
// case-insensitive substring. Re-adding an existing keyword replaces it. An
// embedding trigger fires when cos(message, embedding) ≥ threshold (default
// 0.8). A firing turn uses β = 0.05. The memory later stored from that
// message gets importance 1.0. The phase becomes resonance for 3 turns once
// past initialization. Registering more than MaxTriggers (64) triggers fails
// with KindConflict.
//
// # Anchors (Q4)
//
// AnchorScore.Score is the mean cosine of the state to the anchors,
// weighted by their weights (AddWeightedAnchor; AddAnchor's weight is 1):
// Σ w·cos(S, a) / Σ w. It is 0 without a state or without anchors.
// DriftThreshold is 0.5. After each update with anchors present, a Score
// below 0.5 starts a realignment of 3 turns when none is running. Each of
// those turns adds 0.15·(anchor centroid − S) to the update, the centroid
// being the unit-length weighted mean of the unit anchors. Anchors also
// bias retrieval by +0.1·cos(key, anchor centroid). Anchors all of one
// weight act as unweighted ones; a snapshot carries anchor_weights only
// while some weight is not 1. Registering more than MaxAnchors (64) anchors
// fails with KindConflict.
//
// # Isolation (Q6)
//
// The levels behave as follows:
//   - OPEN passes everything.
//   - FILTER stops a message with cosine ≥ threshold to any exclusion vector.
//     When an allowlist exists, it also stops a message below threshold for
//     every allowlist vector.
//   - QUARANTINE stops the same messages and keeps them in a FIFO shadow
//     buffer (ShadowCap, 64; the oldest entry is dropped when full). Their
//     vectors are kept as int8 codes.
//   - LOCKDOWN stops everything.
//
// A stopped message is not folded into the state, not stored and not
// buffered as pending. The turn does not count. The pending question stays
// pending. RunResult still carries a context block and the similarity and
// drift numbers, computed read-only. RunResult.Isolation is "filtered",
// "quarantined" or "blocked".
//
// Under FILTER and QUARANTINE, a response sent along with a stopped message
// answers the previous, accepted message and is stored normally. The next
// response after a stopped message answers that message. After a filtered
// message it is discarded. After a quarantined message it is attached to the
// shadow entry. LOCKDOWN makes the session read-only: responses from Run and
// Store are dropped too.
//
// ReleaseQuarantine replays the shadow buffer in arrival order. Each message
// is stored, as a Q&A when its answer arrived and as "U: …" otherwise, and it
// is folded as an accepted turn. The turn, histories and phase advance, and
// drift is not measured. The policy vectors are capped at MaxIsolationVectors
// (64) per list. SetIsolation keeps the shadow buffer.
//
// # Literal cache
//
// Entries are stored verbatim. Oversized fields are rejected, never
// truncated: key 256, value 2000, context 1000 characters. An unknown kind is
// KindInvalid (400), with a detail that lists EntityKinds().
//
// # Entity keys
//
// A key travels in a URL path (DELETE …/entities/{key}) and must reach the
// server unchanged whatever the client does to paths: removing "." and ".."
// segments (browsers, url.ResolveReference, httpx, requests, curl), collapsing
// "//", turning '\' into '/', dropping control characters and white space
// at the ends, decoding "%xx" again. PutEntity refuses, as a KindValidation
// error on "key" (422), a key that has white space at either end, a control
// character (Unicode Cc), one of '\', '%', '?', '#', or an empty, "." or ".."
// segment between '/' (so no leading or trailing '/' and no "//"). Keys such
// as "src/pss/core.py", "a..b", "..." and ".hidden" are fine. Import applies
// the same rule (KindInvalid); UnmarshalBinary drops a violating entry, which
// only a snapshot written before the rule can hold. FuzzEntityKey checks that
// every accepted key survives path.Clean, url.Parse, ResolveReference and a
// model of the WHATWG URL parser, escaped per segment or not. Writing an
// existing key overwrites it and keeps its access count. When MaxEntities
// (256) is reached, the entry with the lowest importance, then the oldest
// write, is evicted. The entry being written is never evicted.
//
// Queries tokenise the text as follows:
//   - tokens are runs of letters and digits;
//   - a token is split again where a lower-case letter or digit is followed
//     by an upper-case letter (parseConfig → parse, config);
//   - tokens are lower-cased;
//   - tokens shorter than 2 characters are dropped.
//
// An entry matches when its key or value shares a token with the query.
// Matches are ranked by the number of distinct shared tokens, then by
// importance, then by key. Matches count as accessed. Listing everything
// (empty query) is sorted by key and does not count.
//
// # Reset
//
// Reset clears the conversation: the state, turn counter, phase, fsm,
// histories, drift baseline and recent context, the pending question, the
// last response, all memories, the shadow buffer and the Verify reference.
// It keeps what the client configured explicitly: the config, triggers,
// anchors, the isolation policy and the literal cache. The literal cache has
// its own delete endpoint.
//
// # Export, Import, Verify (Q7)
//
// Export writes a state_dict. This is a JSON object with "format":
// "semvec-go/3" and every field of the session in a fixed order. Floats are
// written in their shortest round-tripping form: float32 for vectors and
// histories, float64 for scalars. Memory keys, the pending question's vector,
// recent context vectors and shadow vectors are arrays of int8 codes.
// "checksum" is the SHA-256 (hex) of that encoding without the checksum
// field. Export→Import→Export is byte-identical, and the imported session
// behaves exactly like the original. Import also reads "semvec-go/2", written
// before the memory policy: each memory's access weight becomes its
// access_count as of the current turn, and fields format 2 lacked must be
// absent. Other formats (including "semvec-go/1") are KindInvalid.
//
// Import checks, in order:
//   - strict JSON: unknown fields and trailing data are rejected;
//   - the format;
//   - the checksum, computed over the canonical re-encoding;
//   - the config against the server's (see below);
//   - every invariant: config ranges, dimensions, unit-length and finite
//     vectors, canonical int8 codes (in [-127, 127], largest magnitude 127),
//     tier caps and grouping, hash = hash(text) and uniqueness, UTC memory
//     timestamps, sequence numbers, sorted entities, entity keys, value
//     ranges (every counter at most 2^50, see "Binary snapshot").
//
// The server's configuration governs (ImportWith; Import uses
// DefaultConfig of the payload's dimension, the configuration the server
// gives every session). The payload's config must have the server's
// dimension and no cap or limit above the server's, and the state must fit
// both configs. The imported session takes the server's configuration
// (memory policy included); enable_topic_switch, use_attention and the two
// per-session context knobs, context_top_k and context_budget_chars (within
// MaxContextTopK and MaxContextBudgetChars), come from the payload, so its
// Export equals the input when the payload had the server's configuration.
//
// Any failure is KindInvalid, "Malformed or tampered state_dict: <reason>",
// and no session is returned. Memory hashes are stable across export and
// import.
//
// Verify compares cos(state, t) within tolerance, and the hash of the top
// memory, for every test vector. The reference session defaults to the state
// as of the last Export or Import of this session. So Export, although a
// read, replaces that reference (ExportKeepingReference does not; the
// session actor logs an export like a change, see actors/session_log.go).
// Without either, the probe compares the session with itself and is
// trivially consistent. Reset drops the reference.
//
// # Binary snapshot
//
// MarshalBinary and UnmarshalBinary are for passivation. The layout is magic
// "SVGB\x03" ("SVGB\x02" snapshots of format 2 still load), the canonical JSON of the session with the vectors removed,
// then every float32 vector as raw little-endian float32, then every int8
// vector as raw bytes, then a CRC-32C. It includes the Verify reference. Keys
// that the reference shares with live memories are written once. Decoding
// accepts only canonical input, so an accepted blob re-encodes to the same
// bytes (unless it held entity keys from before the key rule, which are
// dropped).
//
// Both decoders refuse input above MaxSnapshotBytes. Config.Validate refuses
// a configuration under which a full session (every cap reached, every text
// at its limit and escaped six bytes a character by JSON) could encode
// larger than that (binaryBound), so every reachable state can be saved and
// loaded back; a pending question is kept clipped to MaxStoredChars for this
// (pendingText: the memory it becomes is unchanged). The encoders check as
// well: MarshalBinary returns an error and Export KindConflict rather than
// write what the decoders would refuse. Export's JSON vectors are larger, so
// at thousands of dimensions a full session may be too large to export.
//
// The counters are bounded the same way. The turn, each memory's
// access_count, access weight and merged items, each entity's access_count
// and next_seq are at most 2^50 (maxTurn): both decoders refuse more (a
// binary snapshot written before next_seq was bounded still loads), and no
// state a session reaches goes past it. The turn and the counts stop at
// 2^50 (once the turn is there, every further turn has index 2^50-1); the
// sequence numbers, which only order memories and entities, are renumbered
// 0, 1, … in their order before next_seq would pass it. Only a session
// imported near the limit gets there, and it keeps running, exporting,
// importing and loading from its checkpoints.
//
// # Footprint
//
// The memory is bounded by the configuration. At 384 dimensions the int8 keys
// of 65 full tiers take 26 KiB. A 100-turn conversation with short Q&A texts
// (about 130 characters) measures about 44 KiB, and stays there. Texts (2000
// per memory at most) dominate beyond that. The session keeps no scratch
// buffers between calls. Per-call scratch (the message and its codes, the
// memory scores, the context block being built, normalised texts) comes from
// a package-level sync.Pool and goes back at the end of the call, not from
// the stack: the session actor runs each mailbox batch on a fresh goroutine,
// whose small stack would otherwise be grown and copied on almost every
// turn. All memory keys of a session live in one contiguous block (the key
// arena: one slot of Dim codes per memory, norms alongside), allocated
// lazily and grown by half (at least 8 slots) up to the sum of the tier
// caps plus one, so the scoring pass streams through one block. Besides the tiers, a session
// keeps, per memory, 8 bytes of its hash and its slot number, so scoring and
// looking a hash up read no memory struct. This layout is an in-memory
// detail: snapshots are unchanged. ApproxSize reports the estimate.
package engine

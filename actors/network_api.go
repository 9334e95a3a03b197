package actors

import (
	"context"
	"math"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors/engine"
	pb "github.com/semvec-go/semvec/proto"
)

// ---------------------------------------------------------------- network

// DefaultMaxWeight is the transfer strength when the request names none.
const DefaultMaxWeight = 0.15

// Transfer moves session dst towards session src (both owner's) by at most
// maxWeight ∈ (0, 1]. Like every change of network state it is not audited
// (persistence/doc.go, "Audit"): transfers are frequent and change no
// ownership.
func (l *Layers) Transfer(ctx context.Context, owner, src, dst string, maxWeight float64) (*pb.TransferResponse, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
	if math.IsNaN(maxWeight) || maxWeight <= 0 || maxWeight > 1 {
		return nil, semvec.FieldError("max_weight", "Input should be greater than 0 and at most 1")
	}
	if err := notFoundIfInvalid("Source session", src); err != nil {
		return nil, err
	}
	if err := notFoundIfInvalid("Target session", dst); err != nil {
		return nil, err
	}
	return askActor[*pb.TransferResponse](ctx, l.ask, l.networks, owner,
		&pb.TransferRequest{Owner: owner, SourceSessionId: src, TargetSessionId: dst, MaxWeight: maxWeight})
}

// SwitchUser saves the active partition and activates user's.
func (l *Layers) SwitchUser(ctx context.Context, owner, user string) (*pb.SwitchUserResponse, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
	if !ValidUserID(user) {
		return nil, semvec.FieldError("user_id", "String should match pattern '"+UserIDPattern+"'")
	}
	return askActor[*pb.SwitchUserResponse](ctx, l.ask, l.networks, owner, &pb.SwitchUserRequest{Owner: owner, UserId: user})
}

// ActiveUser returns the active partition's user id ("default" at first).
func (l *Layers) ActiveUser(ctx context.Context, owner string) (string, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return "", err
	}
	res, err := askActor[*pb.ActiveUserResponse](ctx, l.ask, l.networks, owner, &pb.ActiveUserRequest{Owner: owner})
	return res.GetActiveUser(), err
}

// SerializeUser returns user's partition as a JSON object.
// NotFound("User partition") when the owner never switched to it.
func (l *Layers) SerializeUser(ctx context.Context, owner, user string) (*pb.SerializeUserResponse, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
	if !ValidUserID(user) {
		return nil, semvec.NotFound("User partition")
	}
	return askActor[*pb.SerializeUserResponse](ctx, l.ask, l.networks, owner, &pb.SerializeUserRequest{Owner: owner, UserId: user})
}

// Propose puts target to a trust-weighted vote of the active partition's
// instances (see tallyVotes and updateTrust). target must have the session
// dimension (KindValidation).
func (l *Layers) Propose(ctx context.Context, owner, proposer string, target []float32) (*pb.ConsensusResponse, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
	if err := engine.CheckVector("target_embedding", target, l.sessions.Dim()); err != nil {
		return nil, err
	}
	if err := notFoundIfInvalid("Proposer session", proposer); err != nil {
		return nil, err
	}
	return askActor[*pb.ConsensusResponse](ctx, l.ask, l.networks, owner,
		&pb.ConsensusRequest{Owner: owner, ProposerSessionId: proposer, TargetEmbedding: target})
}

// Trust returns the active partition's trust scores.
func (l *Layers) Trust(ctx context.Context, owner string) (map[string]float64, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
	res, err := askActor[*pb.TrustResponse](ctx, l.ask, l.networks, owner, &pb.TrustRequest{Owner: owner})
	if err != nil {
		return nil, err
	}
	out := res.GetTrustScores()
	if out == nil {
		out = map[string]float64{}
	}
	return out, nil
}

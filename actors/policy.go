package actors

import (
	"errors"
	"fmt"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors/engine"
)

// checkPolicyVectors refuses the policy_vectors knobs the engine cannot
// honour, rather than ignoring them. A policy vector is registered as a
// drift anchor of its weight (default 1; greater than 0, at most
// engine.MaxAnchorWeight): its share, relative to the session's other
// anchors, in the anchor centroid (retrieval bias and realignment pull) and
// the anchor score (engine.Session.AddWeightedAnchor). The contract does
// not say what promote does ("probably pins matching memories to a higher
// tier", an open question), so promote must be omitted or false; anything
// else is a 422 at policy_vectors.<i>.promote, as a weight out of range is
// at .weight.
func checkPolicyVectors(ps []PolicyVector) error {
	for i, p := range ps {
		if w := p.Weight; w != nil && !(*w > 0 && *w <= engine.MaxAnchorWeight) {
			return semvec.FieldError(fmt.Sprintf("policy_vectors.%d.weight", i),
				"policy_vectors[%d].weight: must be greater than 0 and at most %d", i, engine.MaxAnchorWeight)
		}
		if p.Promote {
			return semvec.FieldError(fmt.Sprintf("policy_vectors.%d.promote", i),
				"policy_vectors[%d].promote: true is not supported; policy vectors are drift anchors and promote no memories", i)
		}
	}
	return nil
}

// weight is a policy vector's weight: 1 when not given.
func (p PolicyVector) weight() float64 {
	if p.Weight == nil {
		return 1
	}
	return *p.Weight
}

// asRequestField renames the field of a validation error from the engine
// (which names its own argument, such as "state" or "embedding") to the
// request field it came from, prefixing its detail with prefix (for an
// element of a list: "policy_vectors[2].embedding: "), as checkPolicyVectors
// words its errors. Other errors pass unchanged.
func asRequestField(err error, field, prefix string) error {
	var se *semvec.Error
	if !errors.As(err, &se) || se.Kind != semvec.KindValidation {
		return err
	}
	return semvec.FieldError(field, "%s%s", prefix, se.Detail)
}

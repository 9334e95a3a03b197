package actors

import (
	"fmt"

	"github.com/semvec-go/semvec"
)

// defaultPolicyWeight is the only policy_vectors[].weight a session accepts.
const defaultPolicyWeight = 1.0

// checkPolicyVectors refuses the policy_vectors knobs the engine cannot
// honour, rather than ignoring them silently. A policy vector is registered
// as a drift anchor, and anchors are unweighted: every anchor counts equally
// in the anchor centroid (retrieval bias), the anchor score and the
// realignment pull. The contract does not say what weight scales nor what
// promote does ("probably pins matching memories to a higher tier", an open
// question), so: weight must be omitted or 1, and promote omitted or false;
// anything else is a 422 at policy_vectors.<i>.weight or .promote.
func checkPolicyVectors(ps []PolicyVector) error {
	for i, p := range ps {
		if p.Weight != nil && *p.Weight != defaultPolicyWeight {
			return semvec.FieldError(fmt.Sprintf("policy_vectors.%d.weight", i),
				"policy_vectors[%d].weight: only %g (the default) is supported; policy vectors are unweighted drift anchors", i, defaultPolicyWeight)
		}
		if p.Promote {
			return semvec.FieldError(fmt.Sprintf("policy_vectors.%d.promote", i),
				"policy_vectors[%d].promote: true is not supported; policy vectors are drift anchors and promote no memories", i)
		}
	}
	return nil
}

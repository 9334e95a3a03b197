package actors

import (
	"errors"
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

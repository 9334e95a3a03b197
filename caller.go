package semvec

import (
	"fmt"
	"strings"
)

// Tier is a licence tier. It decides the caller's rate limit.
type Tier string

// The three licence tiers of semvec.
const (
	TierCommunity  Tier = "community"
	TierPro        Tier = "pro"
	TierEnterprise Tier = "enterprise"
)

// ParseTier reads a tier case-insensitively. An empty string is community.
func ParseTier(s string) (Tier, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "community":
		return TierCommunity, nil
	case "pro":
		return TierPro, nil
	case "enterprise":
		return TierEnterprise, nil
	}
	return "", fmt.Errorf("unknown tier %q (want community, pro or enterprise)", s)
}

// AnonymousSubject is the owner recorded for requests served in anonymous mode
// (SEMVEC_ALLOW_ANONYMOUS=1).
const AnonymousSubject = "anonymous"

// Caller is the authenticated identity of a request: the licence subject
// (the tenant that owns resources) and its tier.
type Caller struct {
	Subject   string
	Tier      Tier
	Anonymous bool
}

package semvec

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tier is a licence tier. It decides the caller's rate limit.
type Tier string

// The three licence tiers of semvec.
const (
	TierCommunity  Tier = "community"
	TierPro        Tier = "pro"
	TierEnterprise Tier = "enterprise"
)

// ParseTier reads a tier case-insensitively, folding ASCII letters only, and
// ignoring surrounding ASCII whitespace. An empty string is community.
//
// Unicode case folding is deliberately not applied: strings.ToLower maps
// "ENTERPRİSE" (U+0130) and strings.EqualFold maps "enterpriſe" (U+017F) to
// "enterprise", so a tier name from a token could reach an unthrottled tier
// without being spelled as one. Any non-ASCII byte makes the tier unknown.
func ParseTier(s string) (Tier, error) {
	switch asciiLower(strings.Trim(s, asciiSpace)) {
	case "", "community":
		return TierCommunity, nil
	case "pro":
		return TierPro, nil
	case "enterprise":
		return TierEnterprise, nil
	}
	return "", fmt.Errorf("unknown tier %q (want community, pro or enterprise)", s)
}

// asciiSpace is the ASCII whitespace ParseTier ignores around a tier.
const asciiSpace = " \t\n\v\f\r"

// asciiLower lowercases the ASCII letters of s. A string holding any
// non-ASCII byte is returned as it is: it names no tier.
func asciiLower(s string) string {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return s
		}
		upper = upper || 'A' <= c && c <= 'Z'
	}
	if !upper {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// AnonymousSubject is the owner recorded for requests served in anonymous mode
// (SEMVEC_ALLOW_ANONYMOUS=1).
const AnonymousSubject = "anonymous"

// MaxSubjectBytes bounds a subject: it names the tenant in every table's key
// and every actor's name.
const MaxSubjectBytes = 256

// ValidSubject reports why subject cannot name a tenant (the owner of
// resources): it must not be blank, and must be UTF-8 of at most
// MaxSubjectBytes bytes without control characters (a NUL or a newline in a
// tenant's name would reach the database and the logs). It is the rule for
// a licence's "sub" claim and for the owner given to the actors' Go API
// alike; AnonymousSubject and the dev subject ("dev") pass it.
func ValidSubject(subject string) error {
	switch {
	case strings.TrimSpace(subject) == "":
		return errors.New("subject is empty")
	case len(subject) > MaxSubjectBytes:
		return fmt.Errorf("subject is %d bytes, at most %d", len(subject), MaxSubjectBytes)
	case !utf8.ValidString(subject):
		return errors.New("subject is not UTF-8")
	case strings.ContainsFunc(subject, unicode.IsControl):
		return errors.New("subject holds a control character")
	}
	return nil
}

// Caller is the authenticated identity of a request: the licence subject
// (the tenant that owns resources) and its tier.
type Caller struct {
	Subject   string
	Tier      Tier
	Anonymous bool
}

package http

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/http/license"
)

// ctxKey is the type of this package's gin context keys, so no other package
// can collide with them.
type ctxKey int

// Keys of the gin context: the request's semvec.Caller (set by
// authMiddleware) and its id (set by requestContext).
const (
	callerKey ctxKey = iota
	requestIDKey
)

// RenewURL is where the 402 "licence expired" answer sends the caller.
const RenewURL = "https://www.semvec.io"

// Auth response details.
const (
	detailMissingToken = "Missing license token"
	// detailNotBearer follows detailMissingToken when an Authorization
	// header came without a bearer token (a token sent bare, or another
	// scheme) and no X-API-Key.
	detailNotBearer      = ": the Authorization header must be \"Bearer \" and the token (or send the token in X-API-Key)"
	detailInvalidLicense = "Invalid license: "
	detailExpiredLicense = "License expired: renew at " + RenewURL
	// detailProductNotCovered (and the token's products, then "]") is the
	// 402 of a valid licence whose "products" claim does not name semvec.
	detailProductNotCovered = "This licence does not cover semvec: its products are ["
)

// CallerFrom returns the caller that authMiddleware stored for this request.
// On a route without authMiddleware it returns the zero Caller (empty
// Subject), which owns nothing.
func CallerFrom(c *gin.Context) semvec.Caller {
	caller, _ := lookupCaller(c)
	return caller
}

func lookupCaller(c *gin.Context) (semvec.Caller, bool) {
	v, ok := c.Get(callerKey)
	if !ok {
		return semvec.Caller{}, false
	}
	caller, ok := v.(semvec.Caller)
	return caller, ok
}

// authMiddleware authenticates the request with a licence JWT and stores the
// caller (licence subject and tier) for CallerFrom.
//
// The token is read from "Authorization: Bearer <t>" (scheme
// case-insensitive) and, when that header carries no bearer token, from
// "X-API-Key: <t>". Answers:
//
//	no token                     401 {"detail":"Missing license token"}
//	    (with an Authorization header that is not "Bearer <t>", the
//	    detail goes on to say so)
//	bad token                    401 {"detail":"Invalid license: <reason>"}
//	valid signature, expired     402 {"detail":"License expired: renew at https://www.semvec.io"}
//
// Both 401s carry "WWW-Authenticate: Bearer". The body is never read: a
// refusal is answered as soon as the headers are in, and closes the
// connection when a body was announced (see abortUnread). Failed attempts are
// limited per address by the AuthFailureLimiter that runs before. With
// anonymous set no header is needed: every request is the anonymous
// community-tier caller. A nil verifier (without anonymous) rejects every
// token.
func authMiddleware(v *license.Verifier, anonymous bool) gin.HandlerFunc {
	if anonymous {
		caller := semvec.Caller{Subject: semvec.AnonymousSubject, Tier: semvec.TierCommunity, Anonymous: true}
		return func(c *gin.Context) {
			setCaller(c, caller)
			c.Next()
		}
	}
	if v == nil {
		v = license.NewVerifier(nil) // fail closed: no key accepts anything
	}
	return func(c *gin.Context) {
		token := tokenFrom(c.Request)
		if token == "" {
			if strings.TrimSpace(c.Request.Header.Get("Authorization")) != "" {
				unauthorized(c, detailMissingToken+detailNotBearer)
				return
			}
			unauthorized(c, detailMissingToken)
			return
		}
		claims, err := v.Verify(token)
		if err != nil {
			var ve *license.VerifyError
			switch {
			case errors.As(err, &ve) && ve.Expired:
				abortUnread(c, http.StatusPaymentRequired, detailExpiredLicense)
			case ve != nil:
				unauthorized(c, detailInvalidLicense+ve.Reason)
			default:
				unauthorized(c, detailInvalidLicense+license.ReasonMalformed)
			}
			return
		}
		if !claims.Covers(license.Product) {
			abortUnread(c, http.StatusPaymentRequired, detailProductNotCovered+strings.Join(claims.Products, ", ")+"]")
			return
		}
		setCaller(c, semvec.Caller{Subject: claims.Subject, Tier: claims.Tier})
		c.Next()
	}
}

// setCaller stores the caller for CallerFrom.
func setCaller(c *gin.Context, caller semvec.Caller) { c.Set(callerKey, caller) }

// tokenFrom extracts the licence token: a bearer token first, then X-API-Key.
func tokenFrom(r *http.Request) string {
	if scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " "); ok &&
		strings.EqualFold(scheme, "Bearer") {
		if tok = strings.TrimSpace(tok); tok != "" {
			return tok
		}
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key")) // X-API-Key, canonical spelling: no copy
}

func unauthorized(c *gin.Context, detail string) {
	c.Header("WWW-Authenticate", "Bearer")
	abortUnread(c, http.StatusUnauthorized, detail)
}

package semvec

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the one table in package http that maps errors
// to status codes. Inner layers create errors with a Kind; only boundaries
// inspect it.
type Kind int

// Error kinds. The comment gives the HTTP status the kind maps to.
const (
	KindInternal    Kind = iota // 500, detail hidden
	KindNotFound                // 404: missing, or owned by another caller
	KindInvalid                 // 400: semantically invalid input (bad import payload, unknown mode; in the Go API also a nil request, an invalid owner, a context already canceled)
	KindValidation              // 422: a field failed validation (wrong vector length, NaN)
	KindConflict                // 409: the request conflicts with current state
	KindUnavailable             // 503: a dependency (database, embedder, actor) cannot serve now
	KindTimeout                 // 504: an actor did not answer in time
)

// String names the kind ("not_found"), for logs.
func (k Kind) String() string {
	switch k {
	case KindInternal:
		return "internal"
	case KindNotFound:
		return "not_found"
	case KindInvalid:
		return "invalid"
	case KindValidation:
		return "validation"
	case KindConflict:
		return "conflict"
	case KindUnavailable:
		return "unavailable"
	case KindTimeout:
		return "timeout"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is an error with a Kind and a message that is safe to show to clients.
type Error struct {
	Kind   Kind
	Detail string
	// Field, for KindValidation, names the offending request field
	// (for example "embedding"); it becomes the 422 "loc".
	Field string
	Err   error // optional cause, logged but never shown
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Detail + ": " + e.Err.Error()
	}
	return e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind with a formatted client-safe detail.
func Errorf(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of the given kind that keeps cause for the logs.
func Wrap(kind Kind, cause error, detail string) error {
	return &Error{Kind: kind, Detail: detail, Err: cause}
}

// FieldError is a KindValidation error naming a request field.
func FieldError(field, format string, args ...any) error {
	return &Error{Kind: KindValidation, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// KindOf reports the Kind of err (KindInternal when err carries none).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// NotFound is shorthand for the most common error: a resource that does not
// exist or belongs to another caller. Both cases must produce the same body.
func NotFound(what string) error { return Errorf(KindNotFound, "%s not found", what) }

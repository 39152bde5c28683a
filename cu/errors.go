package cu

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors callers branch on. Each maps to the status the reference CU answers with.
var (
	ErrNotFound           = errors.New("not found")                  // 404
	ErrUnsupportedFormat  = errors.New("unsupported module format")  // 422
	ErrHashChain          = errors.New("hash chain invalid")         // 422
	ErrLimitExceeded      = errors.New("limit above the CU maximum") // 413
	ErrInvalidDefinition  = errors.New("invalid process or module")  // 422
	ErrBadRequest         = errors.New("bad request")                // 400
	ErrClosed             = errors.New("cu: closed")                 // 503
	ErrSourceUnavailable  = errors.New("message source unavailable") // 502
	ErrGatewayUnavailable = errors.New("gateway unavailable")        // 502
	ErrBusy               = errors.New("busy")                       // 503, with Retry-After
	ErrPaused             = errors.New("process paused")             // 503, with Retry-After
	ErrRateLimited        = errors.New("rate limit exceeded")        // 429, with Retry-After
)

// ErrWrongScheduler: a slot signed by someone outside the process's scheduler set (422).
var ErrWrongScheduler = errors.New("assignment not signed by a scheduler of the process")

// Error carries the message shown to clients ({"error": Msg}) and a sentinel for the status.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// retryError is an Error a client may retry after a while: the answer carries Retry-After.
type retryError struct {
	err   *Error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Msg }
func (e *retryError) Unwrap() error { return e.err }

func retryLater(kind error, after time.Duration, format string, args ...any) error {
	return &retryError{err: &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}, after: after}
}

// statusOf maps an error to the reference CU's HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUnsupportedFormat), errors.Is(err, ErrHashChain), errors.Is(err, ErrInvalidDefinition),
		errors.Is(err, ErrWrongScheduler):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrLimitExceeded):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrClosed), errors.Is(err, ErrBusy), errors.Is(err, ErrPaused):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrSourceUnavailable), errors.Is(err, ErrGatewayUnavailable):
		return http.StatusBadGateway
	default:
		return http.StatusInternalServerError
	}
}

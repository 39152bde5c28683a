package cu

import (
	"errors"
	"fmt"
	"net/http"
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
)

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

// statusOf maps an error to the reference CU's HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUnsupportedFormat), errors.Is(err, ErrHashChain), errors.Is(err, ErrInvalidDefinition):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrLimitExceeded):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrSourceUnavailable), errors.Is(err, ErrGatewayUnavailable):
		return http.StatusBadGateway
	default:
		return http.StatusInternalServerError
	}
}

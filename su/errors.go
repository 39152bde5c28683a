package su

import (
	"errors"
	"fmt"
)

// Reasons a request is refused. They are wrapped in a *RefusedError that carries the text the
// client sees; branch on them with errors.Is.
var (
	ErrInvalidItem     = errors.New("su: invalid item")
	ErrDuplicate       = errors.New("su: already scheduled")
	ErrUnknownProcess  = errors.New("su: unknown process")
	ErrNotHeld         = errors.New("su: item not held")
	ErrWrongScheduler  = errors.New("su: process names other schedulers")
	ErrNotFound        = errors.New("su: not found")
	ErrUnsupported     = errors.New("su: unsupported request")
	ErrRequestTooLarge = errors.New("su: request too large")
)

// ErrUnavailable reports a sequencer that cannot order the request now: a replicated one
// without a leader or a majority. Writes wait for it to recover; the HTTP API answers 503.
var ErrUnavailable = errors.New("su: scheduler set unavailable")

// RefusedError is a request the SU will not serve as sent; the client can fix it. The HTTP
// API answers 400 {"error": Msg} (413 for ErrRequestTooLarge), as the reference does for its
// business errors.
type RefusedError struct {
	Reason error
	Msg    string
}

func (e *RefusedError) Error() string { return e.Msg }
func (e *RefusedError) Unwrap() error { return e.Reason }

// Refuse builds a *RefusedError: for sequencers outside this package (consensus) whose
// refusals the HTTP API must answer like its own.
func Refuse(reason error, format string, args ...any) error {
	return &RefusedError{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

func refuse(reason error, format string, args ...any) error {
	return &RefusedError{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

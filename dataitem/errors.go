package dataitem

import (
	"errors"
	"fmt"
)

// Error is a validation failure. Class is one of the error classes of the
// ANS-104 vectors (the Class of the sentinel it matches); Msg says what exactly
// was wrong, and Err, when set, is the underlying cause (for bundles, the error
// of the item).
type Error struct {
	Class string
	Msg   string
	Err   error
}

func (e *Error) Error() string {
	switch {
	case e.Msg == "" && e.Err == nil:
		return "dataitem: " + e.Class
	case e.Err == nil:
		return "dataitem: " + e.Class + ": " + e.Msg
	case e.Msg == "":
		return "dataitem: " + e.Class + ": " + e.Err.Error()
	default:
		return "dataitem: " + e.Class + ": " + e.Msg + ": " + e.Err.Error()
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's class, so that
// errors.Is(err, ErrTruncated) works on every truncation error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == "" && t.Err == nil && t.Class == e.Class
}

// The sentinels, one per error class.
var (
	ErrTooShort             = &Error{Class: "too_short"}
	ErrUnknownSignatureType = &Error{Class: "unknown_signature_type"}
	ErrTruncated            = &Error{Class: "truncated"}
	ErrInvalidPresenceByte  = &Error{Class: "invalid_presence_byte"}
	ErrTagBytesTooLarge     = &Error{Class: "tag_bytes_too_large"}
	ErrInvalidTagsEncoding  = &Error{Class: "invalid_tags_encoding"}
	ErrTagCountMismatch     = &Error{Class: "tag_count_mismatch"}
	ErrTagCountExceeded     = &Error{Class: "tag_count_exceeded"}
	ErrEmptyTag             = &Error{Class: "empty_tag"}
	ErrTagNameTooLong       = &Error{Class: "tag_name_too_long"}
	ErrTagValueTooLong      = &Error{Class: "tag_value_too_long"}
	ErrInvalidSignature     = &Error{Class: "invalid_signature"}
	ErrBundleTruncated      = &Error{Class: "bundle_truncated"}
	ErrBundleSizeMismatch   = &Error{Class: "bundle_size_mismatch"}
	ErrBundleItemInvalid    = &Error{Class: "bundle_item_invalid"}
	ErrBundleIDMismatch     = &Error{Class: "bundle_id_mismatch"}
)

// ErrInvalidFields is returned (wrapped) by Sign for fields that cannot be put
// into an item at all, such as a target that is not 32 bytes.
var ErrInvalidFields = errors.New("dataitem: invalid fields")

// ErrInvalidKey is returned (wrapped) by ParseKey, MarshalKey and Sign for a
// key that is malformed or unusable for its signature type.
var ErrInvalidKey = errors.New("dataitem: invalid key")

// ErrorClass returns the class of the outermost dataitem error in err's chain,
// or "" when err holds none.
func ErrorClass(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return ""
}

func newError(sentinel *Error, format string, args ...any) *Error {
	return &Error{Class: sentinel.Class, Msg: fmt.Sprintf(format, args...)}
}

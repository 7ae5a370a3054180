package directory

import (
	"errors"
	"fmt"
)

// ErrorKind classifies directory failures so reconcilers can map them to conditions.
// An ErrorKind is itself an error, so callers test with errors.Is(err, directory.ErrPermissionDenied).
type ErrorKind string

func (k ErrorKind) Error() string { return string(k) }

const (
	// ErrUnreachable: no server of the connection answered (network, TLS handshake, timeout).
	ErrUnreachable ErrorKind = "DirectoryUnreachable"
	// ErrAuthFailed: the server refused the controller's credentials.
	ErrAuthFailed ErrorKind = "AuthenticationFailed"
	// ErrPermissionDenied: the credentials lack a right the call needs.
	ErrPermissionDenied ErrorKind = "PermissionDenied"
	// ErrSchemaMissing: the LAPS schema extension is not installed.
	ErrSchemaMissing ErrorKind = "SchemaMissing"
	// ErrBadData: the directory returned a value that could not be parsed.
	ErrBadData ErrorKind = "BadData"
	// ErrNotFound: the device or principal does not exist.
	ErrNotFound ErrorKind = "NotFound"
	// ErrThrottled: the directory asked the caller to slow down.
	ErrThrottled ErrorKind = "Throttled"
	// ErrCertificateInvalid: the server's TLS certificate failed verification (expired, issued
	// for another host name, or signed by a CA the connection does not trust).
	ErrCertificateInvalid ErrorKind = "CertificateInvalid"
	// ErrBindSuspended: binds were refused, and the connection stopped sending more until the
	// password file changes or the hour's budget frees, so the account is not locked out.
	ErrBindSuspended ErrorKind = "BindSuspended"
	// ErrInvalidConfig: the connection configuration is unusable.
	ErrInvalidConfig ErrorKind = "InvalidConfig"
	// ErrOutOfScope: the target is not an object of the connection: its DN lies outside the
	// search bases, or the object at that DN is not the device the call names. Nothing was
	// written.
	ErrOutOfScope ErrorKind = "OutOfScope"
)

// Error is a classified directory failure.
type Error struct {
	Kind ErrorKind
	// Op names the operation, e.g. "snapshot", "requestRotation".
	Op string
	// Directory is the connection name.
	Directory string
	Err       error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("directory %q: %s: %s", e.Directory, e.Op, e.Kind)
	}
	return fmt.Sprintf("directory %q: %s: %s: %v", e.Directory, e.Op, e.Kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrPermissionDenied) true for an *Error of that kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(ErrorKind)
	return ok && k == e.Kind
}

// NewError builds a classified error.
func NewError(kind ErrorKind, directoryName, op string, err error) *Error {
	return &Error{Kind: kind, Op: op, Directory: directoryName, Err: err}
}

// KindOf returns the kind of a classified error, or "" for any other error.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var k ErrorKind
	if errors.As(err, &k) {
		return k
	}
	return ""
}

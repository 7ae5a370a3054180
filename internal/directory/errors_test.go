package directory

import (
	"errors"
	"fmt"
	"testing"
)

func TestError_ClassifiesThroughWrapping(t *testing.T) {
	cause := errors.New("LDAP Result Code 50 \"Insufficient Access Rights\"")
	err := fmt.Errorf("rotating pc1: %w", NewError(ErrPermissionDenied, "corp-ad", "requestRotation", cause))

	if !errors.Is(err, ErrPermissionDenied) {
		t.Error("errors.Is(err, ErrPermissionDenied) = false")
	}
	if errors.Is(err, ErrUnreachable) {
		t.Error("a permission error also matched ErrUnreachable")
	}
	if !errors.Is(err, cause) {
		t.Error("the cause is not reachable through Unwrap")
	}
	if got := KindOf(err); got != ErrPermissionDenied {
		t.Errorf("KindOf = %q", got)
	}
	if got := KindOf(errors.New("plain")); got != "" {
		t.Errorf("KindOf(plain) = %q, want empty", got)
	}
	if got := KindOf(fmt.Errorf("x: %w", ErrThrottled)); got != ErrThrottled {
		t.Errorf("KindOf(bare kind) = %q", got)
	}
	want := `directory "corp-ad": requestRotation: PermissionDenied: LDAP Result Code 50 "Insufficient Access Rights"`
	if got := errors.Unwrap(err).Error(); got != want {
		t.Errorf("message\n got %s\nwant %s", got, want)
	}
}

func TestDeviceRecord_Managed(t *testing.T) {
	var r DeviceRecord
	if r.Managed() {
		t.Error("a record with no LAPS data is not managed")
	}
	r.Source = SourceLegacy
	if !r.Managed() {
		t.Error("a legacy record is managed")
	}
}

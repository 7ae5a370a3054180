//go:build !windows

package agent

import (
	"errors"
)

// ErrNotWindows: the Windows collection needs Windows.
var ErrNotWindows = errors.New("collecting Windows LAPS state needs Windows: use --simulate on other systems")

// NewWindows fails off Windows.
func NewWindows() (Source, error) { return nil, ErrNotWindows }

// ApplyLocalConfiguration fails off Windows.
func ApplyLocalConfiguration([]byte) error { return ErrNotWindows }

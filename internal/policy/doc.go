// Package policy holds the pure decisions about LapsPolicies: the effective settings of one
// policy with seed 002's defaults filled in (Effective), the settings Windows will ignore
// (Ignored), admission validation in Go that mirrors the CRD's OpenAPI bounds and CEL rules
// (Validate), the one policy in force on a device (Select, Selector), a stable hash of what is
// rendered (Hash) and which values a device's OS build supports (CheckCompatibility).
//
// Nothing here does I/O or reads the clock. The seeds in /work/shared/seeds are the authority:
// seed 002 for settings, ranges, defaults, roots and precedence; seed 003 for the CSP.
package policy

// Package fleetsim simulates Windows LAPS clients as seeds 000-003 describe them, for the demo,
// the end-to-end tests and the benchmarks.
//
// Each device runs the background processing cycle every CycleInterval (an hour) plus random
// jitter, driven only by an injected clock (never the wall clock) and a seed. In Active
// Directory mode a cycle reads msLAPS-PasswordExpirationTime and msLAPS-CurrentPasswordVersion
// from the device's computer object and rotates when the expiry has passed, when the version
// GUID differs from the local LastPasswordVersion (image rollback: event 10015, reason 0x4000),
// when the policy age was exceeded with expiration protection on, or when a post-authentication
// grace period ended. A rotation writes, in one modify as the device identity, a new
// msLAPS-EncryptedPassword (the 16-byte MS-ADA2 header followed by an opaque random blob: the
// simulator never makes or keeps a password), the history shifted up to the policy's size, a
// new version GUID and expiry = now + passwordAgeDays. Domain controllers back up the DSRM
// account instead; nothing runs outside a normal boot. Entra ID devices keep their expiry
// locally; legacy-LAPS devices write the ms-Mcs-AdmPwd pair.
//
// Failures (directory unreachable, permission denied, 10027 when the local password policy
// cannot be met) are injected at per-cycle rates or per device. Each device keeps its recent
// events and exposes what an endpoint agent would report (Report).
package fleetsim

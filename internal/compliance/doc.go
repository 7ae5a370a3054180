// Package compliance decides a ManagedDevice's PasswordCurrent and RollbackDetected conditions
// from what was observed (directory record, effective settings, agent report, rotations in
// progress) and a clock reading. It does no I/O: the ManagedDevice reconciler gathers, this
// package decides, the reconciler writes the verdict into status.
//
// The PasswordCurrent chain checks what the directory actually holds (which password attribute
// has a value, known from replication metadata only; no password is ever read), then the expiry.
// Its first violation is the verdict.
package compliance

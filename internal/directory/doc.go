// Package directory is the contract between the reconcilers and the directories that devices
// back their passwords up to (Active Directory over LDAP, Microsoft Entra ID over Graph).
//
// The controller holds only the outer permission ring of LAPS-REFERENCE.md §1: it reads LAPS
// metadata (expiry, version GUID, update time, where the password is kept) and writes the
// expiration time to force a rotation. No type in this package can carry a password.
package directory

// Package grouppolicy holds the pure parts of publishing a Group Policy object: the gPLink
// string of an organizational unit or domain, GPT.INI, the version number's machine half, and the
// plan that compares what a domain holds with what a LapsPolicy declares. It does no I/O; the AD
// backend (internal/directory/ad) reads and writes through LDAP and SMB.
package grouppolicy

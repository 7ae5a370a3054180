package grouppolicy

// A Group Policy object's version number holds two 16-bit counters: the user half in the upper
// bits, the machine half in the lower bits (MS-GPOL 2.2.4). Clients compare the halves with what
// they last applied and skip an object whose half did not move.

// MachineVersion is the machine half of v.
func MachineVersion(v uint32) uint16 { return uint16(v & 0xFFFF) }

// UserVersion is the user half of v.
func UserVersion(v uint32) uint16 { return uint16(v >> 16) }

// BumpMachine returns v with the machine half incremented; a half that wraps to 0 becomes 1,
// since 0 means "never changed" to a client. The user half is kept.
func BumpMachine(v uint32) uint32 {
	m := MachineVersion(v) + 1
	if m == 0 {
		m = 1
	}
	return v&0xFFFF0000 | uint32(m)
}

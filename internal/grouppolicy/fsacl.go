package grouppolicy

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Security descriptor constants (MS-DTYP 2.4.6, 2.4.4).
const (
	seDACLPresent      = 0x0004
	seDACLAutoInherit  = 0x0400
	seDACLProtected    = 0x1000
	seSelfRelative     = 0x8000
	aceAllowed         = 0x00
	aceAllowedObject   = 0x05
	aceObjectInherit   = 0x01
	aceContainInherit  = 0x02
	aceInheritOnly     = 0x08
	objectTypePresent  = 0x1
	inheritTypePresent = 0x2
)

var (
	sidCreatorOwner = []byte{1, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0}               // S-1-3-0
	sidPreW2K       = []byte{1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 42, 2, 0, 0} // S-1-5-32-554
)

// FolderSecurityDescriptor derives the SYSVOL folder's security descriptor from the Group
// Policy container's (a self-relative binary descriptor read with owner, group and DACL), the
// way Group Policy tools keep the two halves in step (Samba's dsacl2fsacl, which
// `samba-tool gpo aclcheck` compares against): the same owner, group and DACL control flags; each
// allow ACE (object or not, except Pre-Windows 2000 Compatible Access) made object- and
// container-inheritable (inherit-only for CREATOR OWNER) with its directory rights mapped to
// file rights; every other ACE dropped.
func FolderSecurityDescriptor(ds []byte) ([]byte, error) {
	if len(ds) < 20 || ds[0] != 1 {
		return nil, errors.New("security descriptor: not a self-relative descriptor")
	}
	control := binary.LittleEndian.Uint16(ds[2:])
	owner, err := sidAt(ds, binary.LittleEndian.Uint32(ds[4:]))
	if err != nil {
		return nil, fmt.Errorf("security descriptor owner: %w", err)
	}
	group, err := sidAt(ds, binary.LittleEndian.Uint32(ds[8:]))
	if err != nil {
		return nil, fmt.Errorf("security descriptor group: %w", err)
	}
	daclOff := binary.LittleEndian.Uint32(ds[16:])
	if control&seDACLPresent == 0 || daclOff == 0 || int(daclOff)+8 > len(ds) {
		return nil, errors.New("security descriptor: no DACL")
	}
	acl := ds[daclOff:]
	count := int(binary.LittleEndian.Uint16(acl[4:]))
	var aces [][]byte
	off := 8
	for range count {
		if off+4 > len(acl) {
			return nil, errors.New("security descriptor: truncated ACE")
		}
		size := int(binary.LittleEndian.Uint16(acl[off+2:]))
		if size < 8 || off+size > len(acl) {
			return nil, errors.New("security descriptor: bad ACE size")
		}
		ace := append([]byte(nil), acl[off:off+size]...)
		off += size
		if ace[0] != aceAllowed && ace[0] != aceAllowedObject {
			continue
		}
		sidOff := 8
		if ace[0] == aceAllowedObject {
			flags := binary.LittleEndian.Uint32(ace[8:])
			sidOff = 12
			if flags&objectTypePresent != 0 {
				sidOff += 16
			}
			if flags&inheritTypePresent != 0 {
				sidOff += 16
			}
		}
		if sidOff > len(ace) {
			return nil, errors.New("security descriptor: bad object ACE")
		}
		trustee := ace[sidOff:]
		if hasPrefix(trustee, sidPreW2K) {
			continue
		}
		ace[1] |= aceObjectInherit | aceContainInherit
		if hasPrefix(trustee, sidCreatorOwner) {
			ace[1] |= aceInheritOnly
		}
		binary.LittleEndian.PutUint32(ace[4:], ldapMaskToFileMask(binary.LittleEndian.Uint32(ace[4:])))
		aces = append(aces, ace)
	}
	aclSize := 8
	for _, a := range aces {
		aclSize += len(a)
	}
	out := make([]byte, 20, 20+len(owner)+len(group)+aclSize)
	out[0] = 1
	binary.LittleEndian.PutUint16(out[2:], control&(seDACLAutoInherit|seDACLProtected|0x0100)|seDACLPresent|seSelfRelative)
	binary.LittleEndian.PutUint32(out[4:], 20)
	out = append(out, owner...)
	binary.LittleEndian.PutUint32(out[8:], uint32(20+len(owner)))
	out = append(out, group...)
	binary.LittleEndian.PutUint32(out[16:], uint32(20+len(owner)+len(group)))
	hdr := make([]byte, 8)
	hdr[0] = acl[0] // keep the revision (4 when object ACEs are present)
	binary.LittleEndian.PutUint16(hdr[2:], uint16(aclSize))
	binary.LittleEndian.PutUint16(hdr[4:], uint16(len(aces)))
	out = append(out, hdr...)
	for _, a := range aces {
		out = append(out, a...)
	}
	return out, nil
}

func sidAt(b []byte, off uint32) ([]byte, error) {
	if off == 0 || int(off)+8 > len(b) {
		return nil, errors.New("missing")
	}
	n := int(b[off+1])
	end := int(off) + 8 + 4*n
	if b[off] != 1 || end > len(b) {
		return nil, errors.New("malformed SID")
	}
	return append([]byte(nil), b[off:end]...), nil
}

func hasPrefix(b, p []byte) bool { return len(b) >= len(p) && string(b[:len(p)]) == string(p) }

// ldapMaskToFileMask maps directory-service rights to file rights as Samba's ldapmask2filemask
// does: standard rights kept; read property with list contents gives read and execute; write
// property gives write; create child gives add file and subdirectory; delete child stays.
func ldapMaskToFileMask(m uint32) uint32 {
	const (
		dsCreateChild  = 0x01
		dsDeleteChild  = 0x02
		dsListContents = 0x04
		dsReadProperty = 0x10
		dsWriteProp    = 0x20
	)
	f := m & 0x001F0000
	if m&dsReadProperty != 0 && m&dsListContents != 0 {
		f |= 0x00100000 | 0x0001 | 0x0080 | 0x0008 | 0x0020
	}
	if m&dsWriteProp != 0 {
		f |= 0x00100000 | 0x0002 | 0x0004 | 0x0010 | 0x0100
	}
	if m&dsCreateChild != 0 {
		f |= 0x0004 | 0x0002
	}
	if m&dsDeleteChild != 0 {
		f |= 0x0040
	}
	return f
}

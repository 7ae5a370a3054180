package grouppolicy

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func sid(auth byte, subs ...uint32) []byte {
	b := []byte{1, byte(len(subs)), 0, 0, 0, 0, 0, auth}
	for _, s := range subs {
		b = binary.LittleEndian.AppendUint32(b, s)
	}
	return b
}

func ace(typ, flags byte, mask uint32, trustee []byte, objectType bool) []byte {
	body := binary.LittleEndian.AppendUint32(nil, mask)
	if typ == aceAllowedObject {
		if objectType {
			body = binary.LittleEndian.AppendUint32(body, objectTypePresent)
			body = append(body, bytes.Repeat([]byte{0xAB}, 16)...)
		} else {
			body = binary.LittleEndian.AppendUint32(body, 0)
		}
	}
	body = append(body, trustee...)
	h := []byte{typ, flags, 0, 0}
	binary.LittleEndian.PutUint16(h[2:], uint16(4+len(body)))
	return append(h, body...)
}

func descriptor(control uint16, owner, group []byte, aces ...[]byte) []byte {
	out := make([]byte, 20)
	out[0] = 1
	binary.LittleEndian.PutUint16(out[2:], control)
	binary.LittleEndian.PutUint32(out[4:], 20)
	out = append(out, owner...)
	binary.LittleEndian.PutUint32(out[8:], uint32(len(out)))
	out = append(out, group...)
	binary.LittleEndian.PutUint32(out[16:], uint32(len(out)))
	size := 8
	for _, a := range aces {
		size += len(a)
	}
	hdr := []byte{4, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint16(hdr[2:], uint16(size))
	binary.LittleEndian.PutUint16(hdr[4:], uint16(len(aces)))
	out = append(out, hdr...)
	for _, a := range aces {
		out = append(out, a...)
	}
	return out
}

// TestFolderSecurityDescriptor: the container's DACL of a Group Policy object as Samba creates it
// becomes the folder DACL samba-tool would write (dsacl2fsacl).
func TestFolderSecurityDescriptor(t *testing.T) {
	owner, group := sid(5, 21, 1, 2, 3, 1105), sid(5, 21, 1, 2, 3, 513)
	da, au, co := sid(5, 21, 1, 2, 3, 512), sid(5, 11), sid(3, 0)
	full := uint32(0x000F01FF) // RPWPCCDCLCLORCWOWDSDDTSW
	in := descriptor(seDACLPresent|seDACLProtected|seSelfRelative|0x0010 /* SACL present: dropped */, owner, group,
		ace(aceAllowed, aceContainInherit, full, da, false),
		ace(aceAllowed, aceContainInherit|aceInheritOnly, full, co, false),
		ace(aceAllowed, aceContainInherit, 0x00020094, au, false), // RPLCLORC
		ace(aceAllowedObject, aceContainInherit, 0x100, au, true), // CR apply-group-policy
		ace(aceAllowed, aceContainInherit, 0x00020094, sidPreW2K, false),
		ace(0x01 /* deny */, 0, full, au, false),
	)
	want := descriptor(seDACLPresent|seDACLProtected|seSelfRelative, owner, group,
		ace(aceAllowed, aceContainInherit|aceObjectInherit, 0x001F01FF, da, false),
		ace(aceAllowed, aceContainInherit|aceObjectInherit|aceInheritOnly, 0x001F01FF, co, false),
		ace(aceAllowed, aceContainInherit|aceObjectInherit, 0x001200A9, au, false),
		ace(aceAllowedObject, aceContainInherit|aceObjectInherit, 0, au, true),
	)
	got, err := FolderSecurityDescriptor(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("FolderSecurityDescriptor\n got %x\nwant %x", got, want)
	}
	for _, bad := range [][]byte{nil, {1, 0}, in[:30]} {
		if _, err := FolderSecurityDescriptor(bad); err == nil {
			t.Errorf("accepted a broken descriptor %x", bad)
		}
	}
}

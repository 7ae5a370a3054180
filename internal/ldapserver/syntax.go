package ldapserver

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// filetimeEpochOffset is the number of 100-ns ticks between 1601-01-01 and 1970-01-01.
const filetimeEpochOffset = 116444736000000000

// FiletimeNever is AD's "never" Large Integer value.
const FiletimeNever = int64(0x7FFFFFFFFFFFFFFF)

// Filetime returns t as a Windows FILETIME (100-ns ticks since 1601-01-01 UTC).
func Filetime(t time.Time) int64 {
	return t.UnixNano()/100 + filetimeEpochOffset
}

// FiletimeString is Filetime as AD writes Large Integer values: a decimal string.
func FiletimeString(t time.Time) string { return strconv.FormatInt(Filetime(t), 10) }

// ParseFiletime reads a decimal FILETIME. never is true for AD's 0x7FFFFFFFFFFFFFFF.
func ParseFiletime(s string) (t time.Time, never bool, err error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("not a FILETIME: %q", s)
	}
	if n == FiletimeNever {
		return time.Time{}, true, nil
	}
	if n < 0 {
		return time.Time{}, false, fmt.Errorf("negative FILETIME %d", n)
	}
	return time.Unix(0, (n-filetimeEpochOffset)*100).UTC(), false, nil
}

// GUIDString formats 16 bytes in .NET Guid(byte[]) order: the first three fields little-endian.
func GUIDString(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("GUID must be 16 bytes, got %d", len(b))
	}
	return fmt.Sprintf("%08x-%04x-%04x-%s-%s",
		binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]), binary.LittleEndian.Uint16(b[6:8]),
		hex.EncodeToString(b[8:10]), hex.EncodeToString(b[10:16])), nil
}

// GUIDBytes is the inverse of GUIDString.
func GUIDBytes(s string) ([]byte, error) {
	h := strings.ReplaceAll(strings.Trim(s, "{}"), "-", "")
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != 16 || len(s) < 32 {
		return nil, fmt.Errorf("not a GUID: %q", s)
	}
	out := make([]byte, 16)
	binary.LittleEndian.PutUint32(out[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(out[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(out[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(out[8:], raw[8:])
	return out, nil
}

// SIDBytes encodes a string SID (S-1-5-21-a-b-c-rid) in its binary form.
func SIDBytes(s string) ([]byte, error) {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || !strings.EqualFold(parts[0], "S") || parts[1] != "1" {
		return nil, fmt.Errorf("not a SID: %q", s)
	}
	auth, err := strconv.ParseUint(parts[2], 10, 48)
	if err != nil {
		return nil, fmt.Errorf("not a SID: %q", s)
	}
	subs := parts[3:]
	if len(subs) > 15 {
		return nil, fmt.Errorf("SID has too many sub-authorities: %q", s)
	}
	out := make([]byte, 8, 8+4*len(subs))
	out[0] = 1
	out[1] = byte(len(subs))
	for i := range 6 {
		out[2+i] = byte(auth >> (8 * (5 - i)))
	}
	for _, p := range subs {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("not a SID: %q", s)
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(v))
	}
	return out, nil
}

// SIDString decodes a binary SID.
func SIDString(b []byte) (string, error) {
	if len(b) < 8 || b[0] != 1 || len(b) != 8+4*int(b[1]) {
		return "", fmt.Errorf("not a binary SID (%d bytes)", len(b))
	}
	var auth uint64
	for i := range 6 {
		auth = auth<<8 | uint64(b[2+i])
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "S-1-%d", auth)
	for i := range int(b[1]) {
		fmt.Fprintf(&sb, "-%d", binary.LittleEndian.Uint32(b[8+4*i:]))
	}
	return sb.String(), nil
}

// EncryptedPasswordHeader builds the 16-byte header of msLAPS-EncryptedPassword (MS-ADA2 2.66):
// four little-endian uint32: high half of the update FILETIME, low half, size of the blob that
// follows, reserved 0.
func EncryptedPasswordHeader(updated time.Time, blobSize int) []byte {
	ft := uint64(Filetime(updated))
	h := make([]byte, 16)
	binary.LittleEndian.PutUint32(h[0:4], uint32(ft>>32))
	binary.LittleEndian.PutUint32(h[4:8], uint32(ft))
	binary.LittleEndian.PutUint32(h[8:12], uint32(blobSize))
	return h
}

// ParseEncryptedPasswordHeader reads the update time and blob size from the header of an
// msLAPS-Encrypted* value and checks that the size matches what follows.
func ParseEncryptedPasswordHeader(v []byte) (updated time.Time, blobSize int, err error) {
	if len(v) < 16 {
		return time.Time{}, 0, fmt.Errorf("encrypted password value too short: %d bytes", len(v))
	}
	ft := int64(binary.LittleEndian.Uint32(v[0:4]))<<32 | int64(binary.LittleEndian.Uint32(v[4:8]))
	size := int(binary.LittleEndian.Uint32(v[8:12]))
	if reserved := binary.LittleEndian.Uint32(v[12:16]); reserved != 0 {
		return time.Time{}, 0, fmt.Errorf("reserved header field is %d, want 0", reserved)
	}
	if size != len(v)-16 {
		return time.Time{}, 0, fmt.Errorf("header says %d blob bytes, %d follow", size, len(v)-16)
	}
	return time.Unix(0, (ft-filetimeEpochOffset)*100).UTC(), size, nil
}

package adsyntax

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// FiletimeNever is AD's "never" value for Large Integer times (0x7FFFFFFFFFFFFFFF).
const FiletimeNever = math.MaxInt64

// FiletimeEpochOffset is the number of 100 ns ticks between 1601-01-01 and 1970-01-01.
const FiletimeEpochOffset = 116444736000000000

// Filetime is a parsed AD Large Integer time.
type Filetime struct {
	// Time is the instant; zero for "never". "0" parses to 1601-01-01T00:00:00Z, a time long
	// past: administrators (and legacy LAPS tooling) write 0 to force a rotation at the next cycle.
	Time time.Time
	// Never is set for AD's "never" value 0x7FFFFFFFFFFFFFFF.
	Never bool
}

// ParseFiletime parses a FILETIME written as a decimal string (100 ns ticks since 1601-01-01 UTC).
// "9223372036854775807" means never; "0" is 1601-01-01 (see Filetime). Anything but decimal digits
// (a sign included, "-0", "+5") is an error.
func ParseFiletime(s string) (Filetime, error) {
	if s == "" {
		return Filetime{}, errors.New("empty value")
	}
	if len(s) > 20 {
		return Filetime{}, fmt.Errorf("not a FILETIME: %d characters", len(s))
	}
	// Digits only: strconv.ParseInt would take a sign, and "-0" or "+5" is not what a domain
	// controller writes (a negative Large Integer is no time at all).
	for _, c := range s {
		if c < '0' || c > '9' {
			return Filetime{}, fmt.Errorf("not an unsigned decimal FILETIME: %q", s)
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return Filetime{}, fmt.Errorf("not a decimal FILETIME: %q", s)
	}
	switch {
	case v == FiletimeNever:
		return Filetime{Never: true}, nil
	}
	return Filetime{Time: filetimeToTime(v)}, nil
}

func filetimeToTime(ticks int64) time.Time {
	rel := ticks - FiletimeEpochOffset // may be negative (before 1970): fine for time.Unix
	return time.Unix(rel/10_000_000, (rel%10_000_000)*100).UTC()
}

// FormatFiletime renders t as AD's decimal FILETIME string. Times before 1601 are clamped to 1601.
func FormatFiletime(t time.Time) string {
	return strconv.FormatInt(TimeToFiletime(t), 10)
}

// TimeToFiletime converts t to 100 ns ticks since 1601-01-01 UTC, clamped to [0, never).
func TimeToFiletime(t time.Time) int64 {
	sec := t.Unix()
	const maxSec = (FiletimeNever - FiletimeEpochOffset) / 10_000_000
	const minSec = -FiletimeEpochOffset / 10_000_000
	switch {
	case sec < minSec:
		return 0
	case sec > maxSec:
		return FiletimeNever - 1
	}
	rel := sec*10_000_000 + int64(t.Nanosecond()/100) // cannot overflow: sec <= maxSec
	if rel > FiletimeNever-FiletimeEpochOffset-1 {
		return FiletimeNever - 1
	}
	return rel + FiletimeEpochOffset
}

// ParseGUID parses a 16-byte GUID in .NET byte order (Data1, Data2, Data3 little-endian, the rest
// as stored), as AD returns objectGUID and msLAPS-CurrentPasswordVersion, and renders it as the
// canonical lower-case string.
func ParseGUID(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("GUID must be 16 bytes, got %d", len(b))
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:4]),
		binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]),
		b[8:10], b[10:16]), nil
}

// GUIDBytes is the inverse of ParseGUID.
func GUIDBytes(s string) ([]byte, error) {
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, fmt.Errorf("not a GUID: %q", s)
	}
	raw := make([]byte, 16)
	for i := range 16 {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("not a GUID: %q", s)
		}
		raw[i] = byte(v)
	}
	out := make([]byte, 16)
	binary.LittleEndian.PutUint32(out[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(out[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(out[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(out[8:], raw[8:])
	return out, nil
}

// ParseSID parses a binary objectSid (revision 1, sub-authority count, 48-bit big-endian
// identifier authority, little-endian 32-bit sub-authorities) into its S-1-... form.
func ParseSID(b []byte) (string, error) {
	if len(b) < 8 {
		return "", fmt.Errorf("SID too short: %d bytes", len(b))
	}
	if b[0] != 1 {
		return "", fmt.Errorf("unsupported SID revision %d", b[0])
	}
	n := int(b[1])
	if n > 15 {
		return "", fmt.Errorf("SID has %d sub-authorities (max 15)", n)
	}
	if len(b) != 8+4*n {
		return "", fmt.Errorf("SID length %d does not match %d sub-authorities", len(b), n)
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	var sb strings.Builder
	sb.WriteString("S-1-")
	sb.WriteString(strconv.FormatUint(auth, 10))
	for i := range n {
		sb.WriteByte('-')
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return sb.String(), nil
}

// SIDBytes is the inverse of ParseSID: it encodes "S-1-5-21-..." as binary.
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
		return nil, fmt.Errorf("not a SID (too many sub-authorities): %q", s)
	}
	out := make([]byte, 8+4*len(subs))
	out[0], out[1] = 1, byte(len(subs))
	for i := 7; i >= 2; i-- {
		out[i] = byte(auth)
		auth >>= 8
	}
	for i, p := range subs {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("not a SID: %q", s)
		}
		binary.LittleEndian.PutUint32(out[8+4*i:], uint32(v))
	}
	return out, nil
}

// EncryptedPasswordHeader builds the 16-byte header of msLAPS-EncryptedPassword (MS-ADA2 2.66):
// four little-endian uint32: high half of the update FILETIME, low half, size of the blob that
// follows, reserved 0. (Reading bytes [0:8] as one little-endian integer is a known mistake:
// LAPS-REFERENCE.md §1.)
func EncryptedPasswordHeader(updated time.Time, blobSize int) []byte {
	ft := uint64(TimeToFiletime(updated))
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
	if ft < 0 || ft == FiletimeNever {
		return time.Time{}, 0, fmt.Errorf("header update time %d is not a FILETIME", ft)
	}
	return filetimeToTime(ft), size, nil
}

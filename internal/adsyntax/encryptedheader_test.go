package adsyntax

import (
	"encoding/hex"
	"testing"
	"time"
)

// The header of a captured msLAPS-EncryptedPassword value (LAPS-REFERENCE.md §1):
// 4a93da01 8e799b34 e3040000 00000000 is 2024-04-20 17:43:08 UTC with a 1251-byte blob.
func TestEncryptedPasswordHeader_CapturedValue(t *testing.T) {
	header, _ := hex.DecodeString("4a93da018e799b34e304000000000000")
	value := append(header, make([]byte, 1251)...)
	updated, size, err := ParseEncryptedPasswordHeader(value)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2024, 4, 20, 17, 43, 8, 0, time.UTC)
	if !updated.Truncate(time.Second).Equal(want) || size != 1251 {
		t.Fatalf("got %s and %d bytes, want %s and 1251", updated, size, want)
	}
	if got := EncryptedPasswordHeader(updated, size); hex.EncodeToString(got) != hex.EncodeToString(header) {
		t.Fatalf("re-encoded header %x, want %x", got, header)
	}
}

func TestParseEncryptedPasswordHeader_RejectsMalformed(t *testing.T) {
	good := EncryptedPasswordHeader(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), 3)
	cases := map[string][]byte{
		"shorter than the header":       good[:10],
		"size larger than what follows": append(append([]byte{}, good...), 1, 2),
		"reserved field set":            append(append(append([]byte{}, good[:12]...), 1, 0, 0, 0), 1, 2, 3),
	}
	for name, v := range cases {
		if _, _, err := ParseEncryptedPasswordHeader(v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := ParseEncryptedPasswordHeader(append(append([]byte{}, good...), 1, 2, 3)); err != nil {
		t.Errorf("well-formed value rejected: %v", err)
	}
}

func FuzzParseEncryptedPasswordHeader(f *testing.F) {
	f.Add(EncryptedPasswordHeader(time.Unix(0, 0), 0))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		updated, size, err := ParseEncryptedPasswordHeader(v)
		if err == nil && size != len(v)-16 {
			t.Fatalf("size %d for %d bytes", size, len(v))
		}
		_ = updated
	})
}

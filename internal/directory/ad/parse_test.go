package ad

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
)

func replMetaBlob(entries ...attrMetadata) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 1)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(entries)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint32(b, e.AttID)
		b = binary.LittleEndian.AppendUint32(b, e.Version)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Changed.Unix()+adsyntax.FiletimeEpochOffset/10_000_000))
		b = append(b, make([]byte, 16)...)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.USN))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.USN))
	}
	return b
}

func TestParseReplPropertyMetaData(t *testing.T) {
	when := time.Date(2026, 11, 25, 15, 30, 37, 0, time.UTC)
	in := []attrMetadata{{AttID: 0x81470001, Version: 2, Changed: when, USN: 4037}, {AttID: 3, Version: 1, Changed: when.Add(-time.Hour), USN: 9}}
	got, err := parseReplPropertyMetaData(replMetaBlob(in...))
	if err != nil || len(got) != 2 || got[0] != in[0] || got[1] != in[1] {
		t.Fatalf("got %+v, %v", got, err)
	}
	for name, bad := range map[string][]byte{
		"short":     {1, 0, 0},
		"version 2": append([]byte{2, 0, 0, 0}, replMetaBlob()[4:]...),
		"truncated": replMetaBlob(in...)[:16+47],
	} {
		if _, err := parseReplPropertyMetaData(bad); err == nil {
			t.Fatalf("%s: expected an error", name)
		}
	}
}

func FuzzParseReplPropertyMetaData(f *testing.F) {
	f.Add(replMetaBlob(attrMetadata{AttID: 1, Version: 1, Changed: time.Unix(1e9, 0), USN: 5}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseReplPropertyMetaData(b)
	})
}

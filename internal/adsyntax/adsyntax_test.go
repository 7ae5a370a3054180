package adsyntax

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

func TestParseFiletime(t *testing.T) {
	cases := map[string]struct {
		in      string
		want    time.Time
		never   bool
		wantErr bool
	}{
		"should parse a LAPS expiry":              {in: "134405569800000000", want: time.Date(2026, 12, 1, 0, 3, 0, 0, time.UTC)},
		"should parse the Unix epoch":             {in: "116444736000000000", want: time.Unix(0, 0).UTC()},
		"should keep 100ns resolution":            {in: "116444736000000001", want: time.Unix(0, 100).UTC()},
		"should read 0 as 1601, long expired":     {in: "0", want: time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)},
		"should read 0x7FFFFFFFFFFFFFFF as never": {in: "9223372036854775807", never: true},
		"should reject negative values":           {in: "-5", wantErr: true},
		"should reject a minus zero":              {in: "-0", wantErr: true},
		"should reject a plus sign":               {in: "+5", wantErr: true},
		"should reject a signed never":            {in: "+9223372036854775807", wantErr: true},
		"should reject hex":                       {in: "0x1d", wantErr: true},
		"should reject empty":                     {in: "", wantErr: true},
		"should reject overflow":                  {in: "9223372036854775808", wantErr: true},
		"should reject spaces":                    {in: " 1", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseFiletime(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got.Never != tc.never || !got.Time.Equal(tc.want) {
				t.Fatalf("got %+v, want %v never=%v", got, tc.want, tc.never)
			}
		})
	}
}

func TestFormatFiletimeRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 25, 15, 0, 0, 123456700, time.UTC),
		time.Unix(0, 0),
		time.Date(1601, 1, 1, 0, 0, 1, 0, time.UTC),
	} {
		got, err := ParseFiletime(FormatFiletime(tm))
		if err != nil || !got.Time.Equal(tm) {
			t.Fatalf("round trip of %v: %+v, %v", tm, got, err)
		}
	}
	if s := FormatFiletime(time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)); s != "0" {
		t.Fatalf("before 1601 should clamp to 0, got %s", s)
	}
}

func TestParseGUID(t *testing.T) {
	// .NET Guid(byte[]) order: the first three fields are little-endian.
	b := []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	got, err := ParseGUID(b)
	if err != nil || got != "00112233-4455-6677-8899-aabbccddeeff" {
		t.Fatalf("got %q, %v", got, err)
	}
	back, err := GUIDBytes(got)
	if err != nil || !bytes.Equal(back, b) {
		t.Fatalf("GUIDBytes = %x, %v", back, err)
	}
	for _, bad := range [][]byte{nil, make([]byte, 15), make([]byte, 17)} {
		if _, err := ParseGUID(bad); err == nil {
			t.Fatalf("ParseGUID(%x) should fail", bad)
		}
	}
	for _, bad := range []string{"", "00112233-4455-6677-8899-aabbccddeeffaa", "0011223344556677-8899-aabbccddeeff", "zz112233-4455-6677-8899-aabbccddeeff"} {
		if _, err := GUIDBytes(bad); err == nil {
			t.Fatalf("GUIDBytes(%q) should fail", bad)
		}
	}
}

func TestParseSID(t *testing.T) {
	cases := map[string]struct {
		in      []byte
		want    string
		wantErr bool
	}{
		"should parse a domain user SID": {
			in:   sidBytes(5, 21, 1004336348, 1177238915, 682003330, 512),
			want: "S-1-5-21-1004336348-1177238915-682003330-512",
		},
		"should parse Everyone":                   {in: sidBytes(1, 0), want: "S-1-1-0"},
		"should parse a SID without subauthority": {in: sidBytes(5), want: "S-1-5"},
		"should reject a short buffer":            {in: []byte{1, 1, 0}, wantErr: true},
		"should reject a wrong revision":          {in: append([]byte{2}, sidBytes(5, 32)[1:]...), wantErr: true},
		"should reject a count mismatch":          {in: append(sidBytes(5, 32), 0), wantErr: true},
		"should reject 16 subauthorities":         {in: append([]byte{1, 16, 0, 0, 0, 0, 0, 5}, make([]byte, 64)...), wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseSID(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %q, %v; want %q, err=%v", got, err, tc.want, tc.wantErr)
			}
			if err == nil {
				back, err := SIDBytes(got)
				if err != nil || !bytes.Equal(back, tc.in) {
					t.Fatalf("SIDBytes(%q) = %x, %v", got, back, err)
				}
			}
		})
	}
	for _, bad := range []string{"", "S-1", "S-2-5-1", "S-1-x", "S-1-5-99999999999", "X-1-5"} {
		if _, err := SIDBytes(bad); err == nil {
			t.Fatalf("SIDBytes(%q) should fail", bad)
		}
	}
}

func sidBytes(auth uint64, subs ...uint32) []byte {
	b := []byte{1, byte(len(subs)), 0, 0, 0, 0, 0, 0}
	for i := 7; i >= 2; i-- {
		b[i] = byte(auth)
		auth >>= 8
	}
	for _, s := range subs {
		b = binary.LittleEndian.AppendUint32(b, s)
	}
	return b
}

func FuzzParseFiletime(f *testing.F) {
	for _, s := range []string{"0", "9223372036854775807", "134405569800000000", "-1", "", "x", "99999999999999999999", "116444736000000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ft, err := ParseFiletime(s)
		if err != nil {
			return
		}
		if ft.Never {
			return
		}
		// A parsed time must format back to the same number (no silent truncation).
		back := FormatFiletime(ft.Time)
		if want := strings.TrimLeft(s, "0"); back != want && !(want == "" && back == "0") {
			t.Fatalf("%q -> %v -> %q", s, ft.Time, back)
		}
	})
}

func FuzzParseGUID(f *testing.F) {
	f.Add([]byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff})
	f.Add([]byte{})
	f.Add(make([]byte, 15))
	f.Add(make([]byte, 17))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseGUID(b)
		if err != nil {
			return
		}
		back, err := GUIDBytes(s)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("%x -> %q -> %x, %v", b, s, back, err)
		}
	})
}

func FuzzParseSID(f *testing.F) {
	f.Add(sidBytes(5, 21, 1, 2, 3, 512))
	f.Add(sidBytes(1, 0))
	f.Add([]byte{1, 255, 0, 0, 0, 0, 0, 5})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSID(b)
		if err != nil {
			return
		}
		back, err := SIDBytes(s)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("%x -> %q -> %x, %v", b, s, back, err)
		}
	})
}

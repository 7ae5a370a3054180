package grouppolicy

import (
	"strings"
	"testing"
)

func TestGPTINI(t *testing.T) {
	b := FormatGPTINI(0x0003_0007)
	if string(b) != "[General]\r\nVersion=196615\r\n" {
		t.Fatalf("FormatGPTINI = %q", b)
	}
	cases := []struct {
		name, in string
		want     uint32
		err      string
	}{
		{name: "should read what FormatGPTINI writes", in: string(b), want: 196615},
		{name: "should read LF line ends, spaces, a BOM and other keys", in: "\xef\xbb\xbf[general]\ndisplayName=x\n version = 12 \n", want: 12},
		{name: "should ignore Version= outside [General]", in: "[Other]\nVersion=5\n[General]\nVersion=6\n", want: 6},
		{name: "should refuse a missing Version=", in: "[General]\r\n", err: "no Version="},
		{name: "should refuse a version that is no 32-bit number", in: "[General]\r\nVersion=4294967296\r\n", err: "not a 32-bit number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGPTINIVersion([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestBumpMachine(t *testing.T) {
	cases := map[string]struct{ in, want uint32 }{
		"should count the machine half up":               {0, 1},
		"should keep the user half":                      {0x0005_0009, 0x0005_000A},
		"should wrap the machine half to 1, never 0":     {0x0002_FFFF, 0x0002_0001},
		"should not carry a machine wrap into user half": {0xFFFF_FFFF, 0xFFFF_0001},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := BumpMachine(tc.in); got != tc.want {
				t.Fatalf("BumpMachine(%#x) = %#x, want %#x", tc.in, got, tc.want)
			}
		})
	}
}

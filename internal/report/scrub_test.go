package report

import (
	"math/rand"
	"strings"
	"testing"
)

func TestScrub_keepsWhatIsNotSecret(t *testing.T) {
	for _, msg := range []string{
		"The managed account WLapsAdmin7 was not found.",
		`Account CONTOSO\WLapsAdmin7 signed in; post-authentication actions run after the grace period.`,
		"LAPS failed with 0x80070005 while updating Active Directory.",
		"Password version {3F2504E0-4F89-11D3-9A0C-0305E82C3301} stored; expiry 2026-12-08T10:00:00Z.",
		"Encryption principal S-1-5-21-1004336348-1177238915-682003330-512 could not be resolved.",
		"Build 10.0.26100.2033 on Server2019R2 in CN=WS-0001,OU=Workstations,DC=corp,DC=example",
		"The password of the Administrator account was updated.",
		"LAPS policy processing succeeded.",
	} {
		if got := Scrub(msg); got != msg {
			t.Errorf("Scrub changed a message without secrets:\n in: %s\nout: %s", msg, got)
		}
	}
}

func TestScrub_removesSecrets(t *testing.T) {
	tok := tokenPrefix + "ZmxlZXQvd3MtMDAwMQ.q8h1bmYk3X7n0oN2cS4ZpPJvW1yA6tGd"
	for _, c := range []struct{ in, secret string }{
		{"enrolled with " + tok + " today", tok},
		{"Password: correct horse", "correct"},
		{"pwd=hunter2 was rejected", "hunter2"},
		{`the new passphrase is "TrickyCreed"`, "TrickyCreed"},
		{"updated to k7Fq2ZpX9mWr4T for the account", "k7Fq2ZpX9mWr4T"},
		{"(x#9Lq@2vR!m) was set", "x#9Lq@2vR!m"},
		{"value aBcDeFgHiJkL.", "aBcDeFgHiJkL"},
	} {
		got := Scrub(c.in)
		if strings.Contains(got, c.secret) || !strings.Contains(got, Redacted) {
			t.Errorf("Scrub(%q) = %q: %q survived", c.in, got, c.secret)
		}
	}
}

// TestScrub_generatedPasswords draws passwords as Windows LAPS does (each character independently
// from the complexity's alphabet) and counts how many Scrub catches without a keyword. The
// floors are the measured shares (seed 1) rounded down: short and two-class passwords look too
// much like names to be caught without their keyword.
func TestScrub_generatedPasswords(t *testing.T) {
	const (
		upper   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		lower   = "abcdefghijklmnopqrstuvwxyz"
		digits  = "0123456789"
		special = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"
	)
	rng := rand.New(rand.NewSource(1))
	for _, c := range []struct {
		name     string
		alphabet string
		length   int
		want     float64 // lowest share caught
	}{
		{"complexity 4, length 14 (the default)", upper + lower + digits + special, 14, 0.99},
		{"complexity 4, length 8", upper + lower + digits + special, 8, 0.60},
		{"complexity 3, length 14", upper + lower + digits, 14, 0.90},
		{"complexity 2, length 14", upper + lower, 14, 0.50},
	} {
		caught := 0
		const n = 2000
		for i := 0; i < n; i++ {
			b := make([]byte, c.length)
			for j := range b {
				b[j] = c.alphabet[rng.Intn(len(c.alphabet))]
			}
			pw := string(b)
			if !strings.Contains(Scrub("set to "+pw+" now"), pw) {
				caught++
			}
		}
		share := float64(caught) / n
		t.Logf("%s: %.1f%% caught", c.name, 100*share)
		if share < c.want {
			t.Errorf("%s: %.1f%% caught, want at least %.0f%%", c.name, 100*share, 100*c.want)
		}
	}
}

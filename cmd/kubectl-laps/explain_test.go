package main

import "testing"

func TestExplain(t *testing.T) {
	fleet(t)
	for _, tc := range []struct {
		name, golden string
		args         []string
	}{
		{"should list every selecting policy with the winner and why", "explain-pc-01.txt", []string{"explain", "-n", "fleet", "pc-01"}},
		{"should explain a device whose only policy is the fallback root", "explain-pc-03.txt", []string{"explain", "-n", "fleet", "pc-03"}},
		{"should explain a device no policy selects", "explain-pc-04.txt", []string{"explain", "-n", "fleet", "pc-04"}},
		{"should explain as YAML", "explain-pc-01.yaml", []string{"explain", "-n", "fleet", "pc-01", "-o", "yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := laps(t, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, tc.golden, out)
		})
	}
	t.Run("should need exactly one device", func(t *testing.T) {
		if code, _, errOut := laps(t, "explain", "-n", "fleet"); code != 1 || errOut == "" {
			t.Errorf("exit %d stderr %q", code, errOut)
		}
	})
}

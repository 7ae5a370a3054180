package render

import (
	"testing"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/policy"
)

func TestAppliedHash(t *testing.T) {
	s := policy.Effective(&lapsv1.LapsPolicySpec{BackupDirectory: lapsv1.BackupDirectoryActiveDirectory, PolicyRoot: lapsv1.PolicyRootGroupPolicy})
	vals := RegistryValues(s)
	want := AppliedHash(vals)

	// What a device reads back: another order, other letter case in names, another key.
	back := make([]RegistryValue, 0, len(vals))
	for i := len(vals) - 1; i >= 0; i-- {
		v := vals[i]
		v.Name = upper(v.Name)
		v.Key = LocalConfigurationKey
		back = append(back, v)
	}
	if got := AppliedHash(back); got != want {
		t.Errorf("hash of the same values read back = %s, want %s", got, want)
	}

	changed := append([]RegistryValue(nil), vals...)
	for i := range changed {
		if changed[i].Name == "PasswordAgeDays" {
			changed[i].DWord++
		}
	}
	if AppliedHash(changed) == want {
		t.Error("a changed PasswordAgeDays kept the hash")
	}
	if AppliedHash(vals[:len(vals)-1]) == want {
		t.Error("a missing value kept the hash")
	}
	sz := []RegistryValue{{Name: "AdministratorAccountName", Type: RegSZ, SZ: "4"}}
	dw := []RegistryValue{{Name: "AdministratorAccountName", Type: RegDWORD, DWord: 4}}
	if AppliedHash(sz) == AppliedHash(dw) {
		t.Error("REG_SZ \"4\" and REG_DWORD 4 hash alike")
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

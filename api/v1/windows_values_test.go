package v1

import (
	"strings"
	"testing"
)

func TestWindowsValues_RoundTripEveryName(t *testing.T) {
	for _, e := range backupDirectoryValues {
		checkRoundTrip(t, e.name, e.windows, BackupDirectory.WindowsValue, BackupDirectoryFromWindows)
	}
	for _, e := range passwordComplexityValues {
		checkRoundTrip(t, e.name, e.windows, PasswordComplexity.WindowsValue, PasswordComplexityFromWindows)
	}
	for _, e := range postAuthenticationActionsValues {
		checkRoundTrip(t, e.name, e.windows, PostAuthenticationActions.WindowsValue, PostAuthenticationActionsFromWindows)
	}
	for _, e := range accountTargetValues {
		checkRoundTrip(t, e.name, e.windows, AutomaticAccountManagementTarget.WindowsValue, AutomaticAccountManagementTargetFromWindows)
	}
}

func checkRoundTrip[T ~string](t *testing.T, name T, want int, to func(T) (int, error), from func(int) (T, error)) {
	t.Helper()
	got, err := to(name)
	if err != nil || got != want {
		t.Errorf("%s -> %d, %v; want %d", name, got, err, want)
	}
	back, err := from(got)
	if err != nil || back != name {
		t.Errorf("%d -> %q, %v; want %q", got, back, err, name)
	}
}

// The seed 002 values, written out independently of the tables above.
func TestWindowsValues_MatchSeed002(t *testing.T) {
	cases := []struct {
		name string
		got  func() (int, error)
		want int
	}{
		{"Disabled", BackupDirectoryDisabled.WindowsValue, 0},
		{"EntraID", BackupDirectoryEntraID.WindowsValue, 1},
		{"ActiveDirectory", BackupDirectoryActiveDirectory.WindowsValue, 2},
		{"LargeLetters", ComplexityLargeLetters.WindowsValue, 1},
		{"LargeAndSmallLettersNumbersAndSpecials", ComplexityLargeAndSmallLettersNumbersAndSpecials.WindowsValue, 4},
		{"ImprovedReadability", ComplexityLargeAndSmallLettersNumbersAndSpecialsImprovedReadability.WindowsValue, 5},
		{"PassphraseShortWordsWithUniquePrefix", ComplexityPassphraseShortWordsWithUniquePrefix.WindowsValue, 8},
		{"ResetPassword", PostAuthResetPassword.WindowsValue, 1},
		{"ResetPasswordAndLogoff", PostAuthResetPasswordAndLogoff.WindowsValue, 3},
		{"ResetPasswordAndReboot", PostAuthResetPasswordAndReboot.WindowsValue, 5},
		{"ResetPasswordAndTerminateProcesses", PostAuthResetPasswordAndTerminateProcesses.WindowsValue, 11},
		{"BuiltinAdministrator", AccountTargetBuiltinAdministrator.WindowsValue, 0},
		{"NewCustomAdministrator", AccountTargetNewCustomAdministrator.WindowsValue, 1},
	}
	for _, c := range cases {
		got, err := c.got()
		if err != nil || got != c.want {
			t.Errorf("%s: got %d, %v; want %d", c.name, got, err, c.want)
		}
	}
}

func TestWindowsValues_UnknownInputNamesSettingAndAllowed(t *testing.T) {
	if _, err := PasswordComplexity("Strong").WindowsValue(); err == nil ||
		!strings.Contains(err.Error(), "passwordComplexity") || !strings.Contains(err.Error(), "LargeLetters") {
		t.Errorf("unknown name: %v", err)
	}
	for _, v := range []int{-1, 2, 4, 12} {
		if _, err := PostAuthenticationActionsFromWindows(v); err == nil ||
			!strings.Contains(err.Error(), "postAuthenticationActions") || !strings.Contains(err.Error(), "11 (ResetPasswordAndTerminateProcesses)") {
			t.Errorf("value %d: %v", v, err)
		}
	}
	for _, v := range []int{0, 9} {
		if _, err := PasswordComplexityFromWindows(v); err == nil {
			t.Errorf("complexity %d accepted", v)
		}
	}
	if _, err := BackupDirectoryFromWindows(3); err == nil {
		t.Error("backup directory 3 accepted")
	}
	if _, err := AutomaticAccountManagementTargetFromWindows(2); err == nil {
		t.Error("target 2 accepted")
	}
}

func TestPolicyRootPrecedence_FollowsSeed002Order(t *testing.T) {
	order := []PolicyRoot{PolicyRootCSP, PolicyRootGroupPolicy, PolicyRootLocalConfiguration, PolicyRootLegacyLAPS, "Unknown"}
	for i := 1; i < len(order); i++ {
		if order[i-1].Precedence() >= order[i].Precedence() {
			t.Errorf("%s should precede %s", order[i-1], order[i])
		}
	}
}

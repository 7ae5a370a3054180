package v1

import "fmt"

// This file maps the readable enum names of the API to the numeric values Windows uses in the
// CSP, Group Policy and registry (seed 002, seed 003). Every mapping is total in both directions:
// unknown input returns an error that names the setting and the allowed values.

var backupDirectoryValues = []enumValue[BackupDirectory]{
	{BackupDirectoryDisabled, 0}, {BackupDirectoryEntraID, 1}, {BackupDirectoryActiveDirectory, 2},
}

var passwordComplexityValues = []enumValue[PasswordComplexity]{
	{ComplexityLargeLetters, 1},
	{ComplexityLargeAndSmallLetters, 2},
	{ComplexityLargeAndSmallLettersAndNumbers, 3},
	{ComplexityLargeAndSmallLettersNumbersAndSpecials, 4},
	{ComplexityLargeAndSmallLettersNumbersAndSpecialsImprovedReadability, 5},
	{ComplexityPassphraseLongWords, 6},
	{ComplexityPassphraseShortWords, 7},
	{ComplexityPassphraseShortWordsWithUniquePrefix, 8},
}

var postAuthenticationActionsValues = []enumValue[PostAuthenticationActions]{
	{PostAuthResetPassword, 1},
	{PostAuthResetPasswordAndLogoff, 3},
	{PostAuthResetPasswordAndReboot, 5},
	{PostAuthResetPasswordAndTerminateProcesses, 11},
}

var accountTargetValues = []enumValue[AutomaticAccountManagementTarget]{
	{AccountTargetBuiltinAdministrator, 0}, {AccountTargetNewCustomAdministrator, 1},
}

type enumValue[T ~string] struct {
	name    T
	windows int
}

func toWindows[T ~string](setting string, table []enumValue[T], name T) (int, error) {
	for _, e := range table {
		if e.name == name {
			return e.windows, nil
		}
	}
	return 0, fmt.Errorf("%s: unknown value %q, allowed: %s", setting, name, allowedNames(table))
}

func fromWindows[T ~string](setting string, table []enumValue[T], v int) (T, error) {
	for _, e := range table {
		if e.windows == v {
			return e.name, nil
		}
	}
	return "", fmt.Errorf("%s: unknown Windows value %d, allowed: %s", setting, v, allowedNumbers(table))
}

func allowedNames[T ~string](table []enumValue[T]) string {
	s := ""
	for i, e := range table {
		if i > 0 {
			s += ", "
		}
		s += string(e.name)
	}
	return s
}

func allowedNumbers[T ~string](table []enumValue[T]) string {
	s := ""
	for i, e := range table {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d (%s)", e.windows, e.name)
	}
	return s
}

// WindowsValue is the BackupDirectory value (0, 1, 2).
func (b BackupDirectory) WindowsValue() (int, error) {
	return toWindows("backupDirectory", backupDirectoryValues, b)
}

// BackupDirectoryFromWindows maps 0, 1, 2 to the API name.
func BackupDirectoryFromWindows(v int) (BackupDirectory, error) {
	return fromWindows("backupDirectory", backupDirectoryValues, v)
}

// WindowsValue is the PasswordComplexity value (1..8).
func (c PasswordComplexity) WindowsValue() (int, error) {
	return toWindows("passwordComplexity", passwordComplexityValues, c)
}

// IsPassphrase says whether the complexity makes a passphrase (values 6..8), in which case
// PassphraseLength applies and PasswordLength is ignored (seed 002).
func (c PasswordComplexity) IsPassphrase() bool {
	return c == ComplexityPassphraseLongWords || c == ComplexityPassphraseShortWords ||
		c == ComplexityPassphraseShortWordsWithUniquePrefix
}

// PasswordComplexityFromWindows maps 1..8 to the API name.
func PasswordComplexityFromWindows(v int) (PasswordComplexity, error) {
	return fromWindows("passwordComplexity", passwordComplexityValues, v)
}

// WindowsValue is the PostAuthenticationActions value (1, 3, 5, 11).
func (a PostAuthenticationActions) WindowsValue() (int, error) {
	return toWindows("postAuthenticationActions", postAuthenticationActionsValues, a)
}

// PostAuthenticationActionsFromWindows maps 1, 3, 5, 11 to the API name.
func PostAuthenticationActionsFromWindows(v int) (PostAuthenticationActions, error) {
	return fromWindows("postAuthenticationActions", postAuthenticationActionsValues, v)
}

// WindowsValue is the AutomaticAccountManagementTarget value (0, 1).
func (t AutomaticAccountManagementTarget) WindowsValue() (int, error) {
	return toWindows("automaticAccountManagement.target", accountTargetValues, t)
}

// AutomaticAccountManagementTargetFromWindows maps 0, 1 to the API name.
func AutomaticAccountManagementTargetFromWindows(v int) (AutomaticAccountManagementTarget, error) {
	return fromWindows("automaticAccountManagement.target", accountTargetValues, v)
}

// PolicyRootPrecedence orders roots as Windows reads them (seed 002, "Supported policy roots"):
// CSP first, then GroupPolicy, LocalConfiguration, LegacyLAPS. Lower is stronger; unknown roots
// sort last.
func (r PolicyRoot) Precedence() int {
	switch r {
	case PolicyRootCSP:
		return 0
	case PolicyRootGroupPolicy:
		return 1
	case PolicyRootLocalConfiguration:
		return 2
	case PolicyRootLegacyLAPS:
		return 3
	}
	return 4
}

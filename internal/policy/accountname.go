package policy

import (
	"regexp"
	"unicode"
	"unicode/utf8"
)

// Local account names end up in the rendered documents (SyncML, Intune JSON, Registry.pol and
// its LGPO text form, the agent's JSON) and in the name Windows gives the account. Admission
// refuses what Windows refuses in a local account name (seed 002 names the setting; the
// characters are Windows' rule for user names): " / \ [ ] : ; | = , + * ? < > @, and any control
// character (C0, DEL, C1) or noncharacter U+FFFE/U+FFFF, which no document format carries
// intact. The pattern is the CEL rule on administratorAccountName and nameOrPrefix;
// TestAccountNamePatternMatchesTheCRD keeps them equal.
const (
	// AccountNamePattern matches names without forbidden characters.
	AccountNamePattern = `^[^"/\\\[\]:;|=,+*?<>@\x00-\x1f\x7f-\x9f\x{fffe}\x{ffff}]*$`

	msgAdministratorAccountName = `administratorAccountName must be a Windows account name: letters, digits, spaces and punctuation except " / \ [ ] : ; | = , + * ? < > @, and no control characters`
	msgNameOrPrefix             = `nameOrPrefix must be a Windows account name: letters, digits, spaces and punctuation except " / \ [ ] : ; | = , + * ? < > @, and no control characters`
)

var accountName = regexp.MustCompile(AccountNamePattern)

// ValidAccountNameChars says whether v has none of the characters Windows refuses in a local
// account name, no control character and no noncharacter (its length is checked separately).
func ValidAccountNameChars(v string) bool {
	return utf8.ValidString(v) && accountName.MatchString(v)
}

// DocumentSafe says whether v can be written into every rendered document and read back the
// same: valid UTF-8 without control characters or the noncharacters U+FFFE/U+FFFF (XML 1.0
// cannot carry them; the registry formats end strings at NUL; the LGPO text form ends a value
// at a line break). Renderers refuse other free text.
func DocumentSafe(v string) bool {
	if !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}

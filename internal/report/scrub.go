package report

import (
	"regexp"
	"strings"
	"unicode"
)

// Redacted replaces what Scrub removes.
const Redacted = "[redacted]"

var (
	// tokenLike is an enrollment token (token.go) wherever it appears.
	tokenLike = regexp.MustCompile(tokenPrefix + `[A-Za-z0-9_.-]*`)
	// secretAfterKeyword is a value after a word that announces a secret: "password: x",
	// "pwd=x", "token x".
	secretAfterKeyword = regexp.MustCompile(`(?i)\b(password|passwd|pwd|passphrase|secret|token|credential)s?(\s*[:=]\s*|\s+is\s+)("[^"]*"|'[^']*'|\S+)`)
	// Values that look random but are not secrets: GUIDs, SIDs, hex codes, times.
	notSecret = []*regexp.Regexp{
		regexp.MustCompile(`^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$`),
		regexp.MustCompile(`^S-1-[0-9]+(-[0-9]+)+$`),
		regexp.MustCompile(`^(0[xX])?[0-9a-fA-F]+$`),
		regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)?$`),
		regexp.MustCompile(`^[0-9]+(\.[0-9]+)+$`),
		// Distinguished names, paths and URLs.
		regexp.MustCompile(`^(?i)(CN|OU|DC|O|L)=`),
		regexp.MustCompile(`^[A-Za-z]:\\|^\\\\|^[a-z]+://`),
	}
)

// Words are split at white space only: a generated password may contain any punctuation, and
// must be judged whole. Quotes, brackets and sentence punctuation around a word are kept.
const wordEdges = `"'()[]{}<>.,:;!?`

// Scrub removes from an event message what could be a password or a token, before the message
// can reach status: enrollment tokens, values after a secret keyword, and words that look
// randomly generated (see looksGenerated). Event messages of Windows LAPS do not carry
// passwords; this is the net under that.
func Scrub(msg string) string {
	msg = tokenLike.ReplaceAllString(msg, Redacted)
	msg = secretAfterKeyword.ReplaceAllStringFunc(msg, func(m string) string {
		sub := secretAfterKeyword.FindStringSubmatch(m)
		if sub[3] == Redacted {
			return m
		}
		return sub[1] + sub[2] + Redacted
	})
	var b strings.Builder
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		w := msg[start:end]
		core := strings.Trim(w, wordEdges)
		if looksGenerated(core) {
			i := strings.Index(w, core)
			b.WriteString(w[:i] + Redacted + w[i+len(core):])
		} else {
			b.WriteString(w)
		}
		start = -1
	}
	for i, r := range msg {
		if unicode.IsSpace(r) {
			flush(i)
			b.WriteRune(r)
			continue
		}
		if start < 0 {
			start = i
		}
	}
	flush(len(msg))
	return b.String()
}

// looksGenerated says whether a word looks like a generated password rather than a name: at
// least 8 characters of several classes (upper, lower, digit, other) whose class changes often. Names mix classes in runs (WLapsAdmin7: 3 changes in 11 characters);
// Windows LAPS draws every character independently, so a 3- or 4-class password changes class
// at most positions. Passwords of one or two classes and passphrases read like words and are
// only caught after a keyword (secretAfterKeyword).
func looksGenerated(w string) bool {
	if len(w) < 8 || w == Redacted {
		return false
	}
	for _, re := range notSecret {
		if re.MatchString(w) {
			return false
		}
	}
	classes := map[int]bool{}
	// changes counts class changes between neighbours; lonely counts lower-case letters with
	// no lower-case neighbour (names write lower case in runs: Admin, Laps).
	changes, lonely, n := 0, 0, 0
	runes := []rune(w)
	for i, r := range runes {
		c := charClass(r)
		classes[c] = true
		// Two different punctuation characters side by side count as a change too.
		if i > 0 && (c != charClass(runes[i-1]) || c == classOther && r != runes[i-1]) {
			changes++
		}
		if c == classLower && (i == 0 || charClass(runes[i-1]) != classLower) && (i == len(runes)-1 || charClass(runes[i+1]) != classLower) {
			lonely++
		}
		n++
	}
	// A name like WLapsAdmin7, CONTOSO\WLapsAdmin7 or Server2019R2 changes class in at most
	// 40% of its gaps and has at most one lonely lower-case letter; a password drawn from three
	// or four classes changes class in about two thirds of them.
	ratio := float64(changes) / float64(n-1)
	switch {
	case len(classes) >= 3:
		return ratio >= 0.45 || lonely >= 2
	case len(classes) == 2 && n >= 10:
		return ratio >= 0.5 || lonely >= 3
	}
	return false
}

const (
	classLower = 1
	classOther = 3
)

func charClass(r rune) int {
	switch {
	case unicode.IsUpper(r):
		return 0
	case unicode.IsLower(r):
		return 1
	case unicode.IsDigit(r):
		return 2
	}
	return 3
}

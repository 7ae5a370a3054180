package policy

import "regexp"

// The forms of adPasswordEncryptionPrincipal Windows LAPS accepts (seed 002: a SID in string
// form, or the fully qualified name of a user or group, entered as-is), with the character rules
// Active Directory applies to the names themselves. The same three patterns are the CEL rule on
// LapsPolicySpec.ADPasswordEncryptionPrincipal; TestPrincipalPatternsMatchTheCRD keeps them equal.
//
// Account and group names (sAMAccountName) refuse " / \ [ ] : ; | = , + * ? < > and control
// characters, leading or trailing spaces and a trailing period; spaces inside are fine
// ("Domain Admins"). Domain names (NetBIOS or DNS) refuse \ / : * ? " < > | and control characters,
// a leading period and leading or trailing spaces.
const (
	// PrincipalSIDPattern: S-1-5-21-2127521184-1604012920-1887927527-35197.
	PrincipalSIDPattern = `^S-1-[0-9]+(-[0-9]+)+$`
	// PrincipalDomainNamePattern: DOMAIN\name, e.g. CORP\Domain Admins.
	PrincipalDomainNamePattern = `^[^\\/:*?"<>|@\x00-\x1f\x7f .](?:[^\\/:*?"<>|@\x00-\x1f\x7f]*[^\\/:*?"<>|@\x00-\x1f\x7f ])?\\` +
		`(?:[^"/\\\[\]:;|=,+*?<>\x00-\x1f\x7f ][^"/\\\[\]:;|=,+*?<>\x00-\x1f\x7f]*)?[^"/\\\[\]:;|=,+*?<>\x00-\x1f\x7f .]$`
	// PrincipalUPNPattern: name@dns.domain, e.g. lapsadmins@contoso.com; the name part follows
	// the account-name rules and has no @.
	PrincipalUPNPattern = `^(?:[^"/\\\[\]:;|=,+*?<>@\x00-\x1f\x7f ][^"/\\\[\]:;|=,+*?<>@\x00-\x1f\x7f]*)?[^"/\\\[\]:;|=,+*?<>@\x00-\x1f\x7f .]` +
		`@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`
	// PrincipalMaxLength: a DNS domain name (255) and a group's sAMAccountName (256) with the
	// separator fit.
	PrincipalMaxLength = 512
)

var (
	principalSID    = regexp.MustCompile(PrincipalSIDPattern)
	principalDomain = regexp.MustCompile(PrincipalDomainNamePattern)
	principalUPN    = regexp.MustCompile(PrincipalUPNPattern)
)

// ValidPrincipal says whether v is a principal string Windows LAPS and Active Directory accept
// (its length is checked separately).
func ValidPrincipal(v string) bool {
	return principalSID.MatchString(v) || principalDomain.MatchString(v) || principalUPN.MatchString(v)
}

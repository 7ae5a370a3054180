package grouppolicy

import "testing"

const (
	ours   = "cn={11111111-2222-3333-4444-555555555555},cn=policies,cn=system,DC=fleet,DC=test"
	theirs = "[LDAP://cn={31B2F340-016D-11D2-945F-00C04FB984F9},cn=policies,cn=system,DC=fleet,DC=test;0]"
	other2 = "[LDAP://CN={AAAAAAAA-0000-0000-0000-000000000000},CN=Policies,CN=System,DC=fleet,DC=test;3]"
)

func TestWithLink(t *testing.T) {
	oursUpper := "CN={11111111-2222-3333-4444-555555555555},CN=Policies,CN=System,dc=FLEET,dc=test"
	cases := []struct {
		name, in string
		enforced bool
		want     string
		changed  bool
	}{
		{name: "should add the first link to an empty value", in: "", want: "[LDAP://" + ours + ";0]", changed: true},
		{name: "should put a new link first and keep the others byte for byte", in: theirs + other2, enforced: true,
			want: "[LDAP://" + ours + ";2]" + theirs + other2, changed: true},
		{name: "should change nothing when the link is already as declared", in: theirs + "[LDAP://" + ours + ";0]" + other2,
			want: theirs + "[LDAP://" + ours + ";0]" + other2},
		{name: "should match our DN case-insensitively and keep its spelling", in: theirs + "[LDAP://" + oursUpper + ";0]",
			want: theirs + "[LDAP://" + oursUpper + ";0]"},
		{name: "should re-enable a link disabled by hand in place", in: theirs + "[LDAP://" + ours + ";1]" + other2,
			want: theirs + "[LDAP://" + ours + ";0]" + other2, changed: true},
		{name: "should set enforcement in place", in: theirs + "[LDAP://" + ours + ";0]", enforced: true,
			want: theirs + "[LDAP://" + ours + ";2]", changed: true},
		{name: "should drop a duplicate of our entry", in: "[LDAP://" + ours + ";0]" + theirs + "[LDAP://" + ours + ";0]",
			want: "[LDAP://" + ours + ";0]" + theirs, changed: true},
		{name: "should keep text that is no entry untouched", in: "garbage" + theirs + "[LDAP://broken]",
			want: "[LDAP://" + ours + ";0]garbage" + theirs + "[LDAP://broken]", changed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := WithLink(tc.in, ours, tc.enforced)
			if got != tc.want || changed != tc.changed {
				t.Fatalf("WithLink(%q) = %q, %v; want %q, %v", tc.in, got, changed, tc.want, tc.changed)
			}
		})
	}
}

func TestWithoutLink(t *testing.T) {
	cases := []struct {
		name, in, want string
		changed        bool
	}{
		{name: "should remove our entry and keep the others byte for byte", in: theirs + "[LDAP://" + ours + ";2]" + other2, want: theirs + other2, changed: true},
		{name: "should remove every duplicate", in: "[LDAP://" + ours + ";0][LDAP://" + ours + ";1]", want: "", changed: true},
		{name: "should change nothing without our entry", in: theirs + other2, want: theirs + other2},
		{name: "should not match a DN that only ends like ours", in: "[LDAP://cn=x,cn=" + ours + ";0]", want: "[LDAP://cn=x,cn=" + ours + ";0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := WithoutLink(tc.in, ours)
			if got != tc.want || changed != tc.changed {
				t.Fatalf("WithoutLink(%q) = %q, %v; want %q, %v", tc.in, got, changed, tc.want, tc.changed)
			}
		})
	}
}

func TestFindLink(t *testing.T) {
	s := FindLink(theirs+"[LDAP://"+ours+";3]", ours)
	if !s.Linked || !s.Enforced || !s.Disabled || s.Count != 1 {
		t.Fatalf("FindLink = %+v", s)
	}
	if s := FindLink(theirs, ours); s.Linked {
		t.Fatalf("FindLink found a link that is not there: %+v", s)
	}
}

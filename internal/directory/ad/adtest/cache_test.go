package adtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// TestCache_buildOnceStartPrivateCopies: a half-written entry is never used, the first start
// builds the entry, later starts copy it (while another copy runs, on their own address and
// certificates), and what one DC writes reaches neither the entry nor other copies.
func TestCache_buildOnceStartPrivateCopies(t *testing.T) {
	cache := t.TempDir()
	opts := Options{Computers: 5, CacheDir: cache}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := cacheKey(opts, filepath.Join(root, "hack", "samba"), fixtureWeek(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	// What an interrupted build leaves: its temporary tree, and (from a build interrupted
	// between rename and nothing else) a directory without the entry file.
	// Another entry's interrupted build goes too, when a build finishes.
	for _, d := range []string{".tmp-" + key + "-123", key, ".tmp-7-computers-laps-0123456789abcdef-456"} {
		if err := os.MkdirAll(filepath.Join(cache, d, "samba"), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	a := start(t, opts)
	if a.Cached || a.Load <= 0 {
		t.Fatalf("first start: Cached=%t Load=%s, want a build", a.Cached, a.Load)
	}
	for _, d := range []string{".tmp-" + key + "-123", ".tmp-7-computers-laps-0123456789abcdef-456"} {
		if _, err := os.Stat(filepath.Join(cache, d)); !os.IsNotExist(err) {
			t.Errorf("the interrupted build's tree %s is still there (%v)", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cache, key, cacheEntryFile)); err != nil {
		t.Fatalf("no complete entry after the build: %v", err)
	}
	b := start(t, opts)
	if !b.Cached || b.Load != 0 || b.CachedLoad <= 0 {
		t.Errorf("second start: Cached=%t Load=%s CachedLoad=%s, want a copy of the entry", b.Cached, b.Load, b.CachedLoad)
	}
	if a.IP == b.IP || a.Dir == b.Dir || !a.FixtureT0.Equal(b.FixtureT0) {
		t.Errorf("copies share address or directory, or differ in fixtures: %s %s / %s %s / %s %s", a.IP, b.IP, a.Dir, b.Dir, a.FixtureT0, b.FixtureT0)
	}
	if age := time.Since(b.FixtureT0); age < 24*time.Hour || age > 9*24*time.Hour {
		t.Errorf("cached fixture time base %s is %s old, want 1 to 8 days", b.FixtureT0, age)
	}

	const dn = "CN=fleet-00003,OU=Fleet,DC=fleet,DC=test"
	conn, err := b.Admin() // b's own CA and certificate for its own address
	if err != nil {
		t.Fatal(err)
	}
	m := ldap.NewModifyRequest(dn, nil)
	m.Replace("dNSHostName", []string{"changed.fleet.test"})
	if err := conn.Modify(m); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if got := hostName(t, b, dn); got != "changed.fleet.test" {
		t.Fatalf("the write did not land on b: %q", got)
	}
	for name, s := range map[string]*Server{"a (running)": a, "c (started after the write)": start(t, opts)} {
		if got := hostName(t, s, dn); got != "fleet-00003.fleet.test" {
			t.Errorf("%s: dNSHostName = %q: b's write leaked out of its copy", name, got)
		}
	}
}

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func hostName(t *testing.T, s *Server, dn string) string {
	t.Helper()
	conn, err := s.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"dNSHostName"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("reading %s: %v", dn, err)
	}
	return res.Entries[0].GetAttributeValue("dNSHostName")
}

func TestFixtureWeek(t *testing.T) {
	for d := 0; d < 21; d++ {
		now := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC).Add(time.Duration(d) * 24 * time.Hour)
		t0 := time.Unix(fixtureWeek(now), 0).UTC()
		if age := now.Sub(t0); age < 24*time.Hour || age >= 9*24*time.Hour || t0.Hour() != 0 {
			t.Errorf("now %s: T0 %s (%s back), want a midnight 1 to 8 days back", now, t0, age)
		}
	}
	// The same T0 for a whole week.
	seen := map[int64]int{}
	for d := 0; d < 28; d++ {
		seen[fixtureWeek(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(d)*24*time.Hour))]++
	}
	for t0, n := range seen {
		if n > 7 {
			t.Errorf("T0 %d used for %d days, want at most 7", t0, n)
		}
	}
	if len(seen) > 5 {
		t.Errorf("%d different T0 in 28 days, want 4 or 5", len(seen))
	}
}

// TestStart_bigFleetLoadRebuildsIndexes: a fleet bigger than one load chunk is loaded with the
// indexes of shared values off and ends with them rebuilt: the schema flags are back and an
// indexed search finds every computer.
func TestStart_bigFleetLoadRebuildsIndexes(t *testing.T) {
	s := start(t, Options{Computers: 12, LoadChunk: 5})
	conn, err := s.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest("OU=Fleet,"+s.Base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=computer)(objectCategory=computer)(sAMAccountType=805306369)(primaryGroupID=515)(userAccountControl=4096))", []string{"1.1"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 12 {
		t.Errorf("indexed search found %d computers, want 12", len(res.Entries))
	}
	want := map[string]string{"objectClass": "9", "objectCategory": "1", "sAMAccountType": "1", "primaryGroupID": "17", "userAccountControl": "25"}
	for attr, flags := range want {
		res, err := conn.Search(ldap.NewSearchRequest("CN=Schema,CN=Configuration,"+s.Base, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
			"(lDAPDisplayName="+attr+")", []string{"searchFlags"}, nil))
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("schema of %s: %v", attr, err)
		}
		if got := res.Entries[0].GetAttributeValue("searchFlags"); got != flags {
			t.Errorf("%s searchFlags = %s after the load, want %s (as provisioned)", attr, got, flags)
		}
	}
	load, err := os.ReadFile(filepath.Join(s.Dir, "load.log"))
	if err != nil || strings.Count(string(load), "first=") != 4 {
		t.Errorf("load.log: want chunks of 5, 5, 1 and the last computer alone:\n%s (%v)", load, err)
	}
}

func TestWithoutCommentLines(t *testing.T) {
	in := "#!/usr/bin/env bash\n# a comment\n\t# indented comment\nx=1 # trailing stays\n\nldbadd \"$F\"\n"
	want := "x=1 # trailing stays\n\nldbadd \"$F\"\n"
	if got := string(withoutCommentLines([]byte(in))); got != want {
		t.Errorf("withoutCommentLines = %q, want %q", got, want)
	}
}

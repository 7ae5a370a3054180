package ownership

import "testing"

func TestOwner(t *testing.T) {
	desc := "LAPS for workstations " + Marker("contoso", "fleet-workstations")
	cases := []struct {
		desc, conn, want string
		owned            bool
	}{
		{desc, "contoso", "fleet-workstations", true},
		{Marker("contoso", "a-b/c"), "contoso", "a-b/c", true},           // NAMESPACE/NAME: never equal to a/b-c
		{desc, "fabrikam", "", false},                                    // another connection's policy
		{desc, "contos", "", false},                                      // a prefix of the connection name
		{"made by hand", "contoso", "", false},                           // no marker
		{"[fleetlaps-owner: contoso/]", "contoso", "", false},            // empty name
		{"[fleetlaps-owner: contoso/unterminated", "contoso", "", false}, // no closing bracket
	}
	for _, c := range cases {
		got, ok := Owner(c.desc, c.conn)
		if got != c.want || ok != c.owned {
			t.Errorf("Owner(%q, %q) = %q, %v; want %q, %v", c.desc, c.conn, got, ok, c.want, c.owned)
		}
	}
}

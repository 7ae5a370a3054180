package ad

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/fleetlaps/fleetlaps/internal/directory/ad/adtest"
	"github.com/fleetlaps/fleetlaps/internal/testenv"
)

// fleetSize is the number of fleet-NNNNN computers in OU=Fleet of the shared test DC.
const fleetSize = 1500

// srv is the Samba AD DC shared by every test of this binary (provisioned once in TestMain).
var srv *adtest.Server

func TestMain(m *testing.M) {
	if testenv.FuzzingOnly() {
		os.Exit(m.Run()) // the fuzz targets need no DC
	}
	s, err := adtest.Start(adtest.Options{Computers: fleetSize})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv = s
	fmt.Fprintf(os.Stderr, "samba AD DC at %s (%d computers) ready in %s\n", s.LDAPSURL, fleetSize, s.Elapsed.Round(time.Millisecond))
	if err := addSpecialObjects(s); err != nil {
		fmt.Fprintln(os.Stderr, "fixture:", err)
		_ = s.Stop()
		os.Exit(1)
	}
	code := m.Run()
	stopBenchServer()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping samba:", err)
	}
	os.Exit(code)
}

// Special computers outside OU=Fleet, in OU=Special.
const (
	specialBadVersion = "bad-version"  // msLAPS-CurrentPasswordVersion of 5 bytes
	specialBadExpiry  = "bad-expiry"   // negative msLAPS-PasswordExpirationTime
	specialDCLike     = "dc-like"      // userAccountControl with SERVER_TRUST_ACCOUNT
	specialNever      = "never-expire" // msLAPS-PasswordExpirationTime = 0x7FFFFFFFFFFFFFFF
	// specialLegacyNever: legacy LAPS with ms-Mcs-AdmPwdExpirationTime = 0x7FFFFFFFFFFFFFFF.
	specialLegacyNever = "legacy-never"
)

func addSpecialObjects(s *adtest.Server) error {
	conn, err := s.Admin()
	if err != nil {
		return err
	}
	defer conn.Close()
	ou := "OU=Special," + s.Base
	add := ldap.NewAddRequest(ou, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	if err := conn.Add(add); err != nil {
		return err
	}
	for _, c := range []struct {
		name  string
		attrs map[string]string
	}{
		{specialBadVersion, map[string]string{"msLAPS-CurrentPasswordVersion": "12345", "msLAPS-PasswordExpirationTime": "134405569800000000"}},
		{specialBadExpiry, map[string]string{"msLAPS-PasswordExpirationTime": "-5"}},
		{specialDCLike, map[string]string{"userAccountControl": "532480"}},
		{specialNever, map[string]string{"msLAPS-PasswordExpirationTime": "9223372036854775807"}},
		{specialLegacyNever, map[string]string{"ms-Mcs-AdmPwd": "FLEETSECRET-legacy-never", "ms-Mcs-AdmPwdExpirationTime": "9223372036854775807"}},
	} {
		a := ldap.NewAddRequest("CN="+c.name+","+ou, nil)
		a.Attribute("objectClass", []string{"computer"})
		a.Attribute("sAMAccountName", []string{c.name + "$"})
		if _, ok := c.attrs["userAccountControl"]; !ok {
			a.Attribute("userAccountControl", []string{"4096"})
		}
		for k, v := range c.attrs {
			a.Attribute(k, []string{v})
		}
		if err := conn.Add(a); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

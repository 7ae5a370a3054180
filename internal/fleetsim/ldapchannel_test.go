package fleetsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/ldapserver"
)

// TestFleetOverRealLDAP runs devices whose cycles go through the LDAPS listener as the device
// writer: same behaviour as the in-process channel, and the server's access control applies.
func TestFleetOverRealLDAP(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	srv, err := ldapserver.Start(context.Background(), ldapserver.Config{StoreConfig: ldapserver.StoreConfig{Clock: clk, Seed: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM())
	ch := NewLDAPDirectory(srv.LDAPSURL(), &tls.Config{RootCAs: pool}, srv.Credentials(ldapserver.RoleDevice))
	defer ch.Close()
	f := New(Config{Seed: 3}, ch, ldapserver.Identity{}, clk)
	p := shortPolicy()
	dns := map[string]string{}
	for i := range 20 {
		name := fmt.Sprintf("WS-%04d", i)
		dn, _ := srv.Store().AddComputer(ldapserver.Computer{Name: name})
		dns[name] = dn
		if err := f.AddDevice(DeviceSpec{Name: name, DN: dn}, p); err != nil {
			t.Fatal(err)
		}
	}
	srv.Store().DenyDeviceWrites(dns["WS-0019"], true)
	for range 50 * 60 {
		clk.Step(time.Minute)
		f.Tick(clk.Now())
	}
	rot := f.Rotations()
	for name, dn := range dns {
		if name == "WS-0019" {
			continue
		}
		if rot[name] != 3 {
			t.Errorf("%s rotated %d times in 50h", name, rot[name])
		}
		v, _ := srv.Store().Read(ldapserver.Identity{Role: ldapserver.RoleAdmin}, dn, ldapserver.AttrEncryptedPassword, ldapserver.AttrEncryptedPasswordHistory)
		if _, _, err := adsyntax.ParseEncryptedPasswordHeader([]byte(v[ldapserver.AttrEncryptedPassword][0])); err != nil || len(v[ldapserver.AttrEncryptedPasswordHistory]) != 2 {
			t.Fatalf("%s: %v, history %d", name, err, len(v[ldapserver.AttrEncryptedPasswordHistory]))
		}
	}
	r, _ := f.Report("WS-0019")
	if rot["WS-0019"] != 0 || !hasEvent(r.RecentEvents, EventADUpdateFailed, CodeAccessDenied) {
		t.Fatalf("denied device: %d rotations, events %+v", rot["WS-0019"], r.RecentEvents)
	}
	st := srv.Stats()
	if st.Modifies == 0 || st.ControllerRoundTrips != 0 {
		t.Fatalf("server stats %+v", st)
	}
	// A dropped connection is a failed cycle, then the channel reconnects.
	srv.DropConnectionsAfterEntries(0)
	_ = f.InvokePolicyProcessing("WS-0000")
	f.Tick(clk.Now())
	r, _ = f.Report("WS-0000")
	if !hasEvent(r.RecentEvents, EventADQueryFailed, CodeServerDown) {
		t.Fatalf("no 10011 after the drop: %+v", r.RecentEvents[len(r.RecentEvents)-3:])
	}
	_ = f.InvokePolicyProcessing("WS-0000")
	f.Tick(clk.Now())
	r, _ = f.Report("WS-0000")
	if last := r.RecentEvents[len(r.RecentEvents)-1]; last.ID != EventCycleSucceeded {
		t.Fatalf("after reconnect: %+v", last)
	}
}

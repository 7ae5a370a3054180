package ad

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-logr/logr"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/ldapserver"
)

// faultRig is the AD backend talking to the embedded directory through a fault proxy: plain
// LDAP on loopback, so the proxy sees every message, or StartTLS (the proxy then sees the
// messages up to StartTLS only).
type faultRig struct {
	srv   *ldapserver.Server
	proxy *faultProxy
	dir   *Directory
	cfg   Config
	now   time.Time
}

const faultComputers = 30

func newFaultRig(t *testing.T, startTLS bool) *faultRig {
	t.Helper()
	srv, err := ldapserver.Start(context.Background(), ldapserver.Config{StoreConfig: ldapserver.StoreConfig{Seed: 11}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for i := range faultComputers {
		if _, err := srv.Store().AddComputer(ldapserver.Computer{Name: fmt.Sprintf("pc%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	proxy := newFaultProxy(t, strings.TrimPrefix(srv.URL(), "ldap://"))
	creds := srv.Credentials(ldapserver.RoleController)
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte(creds.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &faultRig{srv: srv, proxy: proxy, now: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
	r.cfg = Config{Name: "corp", URLs: []string{proxy.URL()}, StartTLS: startTLS, InsecureNoTLS: !startTLS, CAPEM: string(srv.CAPEM()),
		BindDN: creds.DN, PasswordFile: pw, PageSize: 10, Timeout: Duration{time.Second}, MaxRetries: 3}
	d, err := New(r.cfg, Options{Logger: logr.Discard(), Backoff: 5 * time.Millisecond, Now: func() time.Time { return r.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	r.dir = d
	return r
}

func (r *faultRig) snapshot(t *testing.T) (*directory.Snapshot, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return r.dir.Snapshot(ctx)
}

func (r *faultRig) mustSnapshot(t *testing.T) *directory.Snapshot {
	t.Helper()
	snap, err := r.snapshot(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Devices) != faultComputers {
		t.Fatalf("%d devices, want %d", len(snap.Devices), faultComputers)
	}
	return snap
}

// onceRule fires action on the first message matching match, then forwards everything.
func onceRule(action faultAction, match func(conn int, toServer bool, op int, pkt *ber.Packet) bool) func(int, bool, int, *ber.Packet) faultAction {
	fired := false
	return func(conn int, toServer bool, op int, pkt *ber.Packet) faultAction {
		if !fired && match(conn, toServer, op, pkt) {
			fired = true
			return action
		}
		return forward
	}
}

func searchBase(pkt *ber.Packet) string {
	if len(pkt.Children) < 2 || len(pkt.Children[1].Children) == 0 {
		return ""
	}
	return packetString(pkt.Children[1].Children[0])
}

// TestFaultTable_LDAP injects connection and server faults between the AD backend and a
// directory. In every row nothing is lost: a failed pass keeps the previous snapshot, and the
// next good pass shows no device changed or removed.
func TestFaultTable_LDAP(t *testing.T) {
	var rows []string
	row := func(fault, did string) { rows = append(rows, "| "+fault+" | "+did+" |") }
	// healed checks that after the fault the next pass succeeds and, against the last good one,
	// reports no device changed or removed.
	healed := func(t *testing.T, r *faultRig) {
		t.Helper()
		r.proxy.setRule(nil)
		r.proxy.setRepeatPage(false)
		snap := r.mustSnapshot(t)
		if len(snap.Changed) != 0 || len(snap.Removed) != 0 {
			t.Fatalf("after the fault: %d changed, %d removed", len(snap.Changed), len(snap.Removed))
		}
	}
	wantKind := func(t *testing.T, err error, kind directory.ErrorKind) {
		t.Helper()
		if directory.KindOf(err) != kind {
			t.Fatalf("error %v, want kind %s", err, kind)
		}
	}

	t.Run("drop during bind", func(t *testing.T) {
		r := newFaultRig(t, false)
		r.mustSnapshot(t)
		_ = r.dir.Close()
		r.proxy.setRule(onceRule(drop, func(_ int, toServer bool, op int, _ *ber.Packet) bool { return toServer && op == opBindRequest }))
		r.mustSnapshot(t)
		healed(t, r)
		row("connection dropped during bind", fmt.Sprintf("reconnected; %d binds sent for one pass", r.proxy.count(opBindRequest)-1))
	})
	t.Run("drop during StartTLS", func(t *testing.T) {
		r := newFaultRig(t, true)
		r.mustSnapshot(t)
		_ = r.dir.Close()
		r.proxy.setRule(onceRule(drop, func(_ int, toServer bool, op int, _ *ber.Packet) bool { return toServer && op == opExtendedRequest }))
		r.mustSnapshot(t)
		healed(t, r)
		row("connection dropped during StartTLS", "reconnected and negotiated TLS again (certificate verified again)")
	})
	t.Run("drop after a Modify was applied", func(t *testing.T) {
		r := newFaultRig(t, false)
		snap := r.mustSnapshot(t)
		var rec directory.DeviceRecord
		for _, v := range snap.Devices {
			rec = v
			break
		}
		r.proxy.setRule(onceRule(drop, func(_ int, toServer bool, op int, _ *ber.Packet) bool { return !toServer && op == opModifyResponse }))
		at := r.now.Add(-time.Minute)
		if err := r.dir.RequestRotation(context.Background(), directory.DeviceRef{Key: rec.Key, DistinguishedName: rec.DistinguishedName}, at); err != nil {
			t.Fatal(err)
		}
		admin := r.srv.Credentials(ldapserver.RoleAdmin)
		vals, err := r.srv.Store().Read(ldapserver.Identity{DN: admin.DN, Role: ldapserver.RoleAdmin}, rec.DistinguishedName, ldapserver.AttrPasswordExpirationTime)
		if err != nil {
			t.Fatal(err)
		}
		if got := vals[ldapserver.AttrPasswordExpirationTime]; len(got) != 1 || got[0] != adsyntax.FormatFiletime(at) {
			t.Fatalf("expiry %v, want %s", got, adsyntax.FormatFiletime(at))
		}
		if n := r.proxy.count(6); n != 2 {
			t.Fatalf("%d Modify requests, want 2 (the applied one and its repeat)", n)
		}
		row("connection dropped after a Modify was applied (its response lost)", "reconnected and repeated the same value (idempotent); the directory holds it once")
	})
	t.Run("drop mid-page", func(t *testing.T) {
		r := newFaultRig(t, false)
		prev := r.mustSnapshot(t)
		entries, first := 0, 0
		r.proxy.setRule(func(conn int, toServer bool, op int, _ *ber.Packet) faultAction {
			if !toServer && op == 4 {
				if first == 0 {
					first = conn
				}
				if entries++; conn == first && entries == 15 {
					return drop
				}
			}
			return forward
		})
		r.now = r.now.Add(2 * time.Hour) // a full pass
		snap := r.mustSnapshot(t)
		if len(snap.Removed) != 0 || len(snap.Devices) != len(prev.Devices) {
			t.Fatalf("after a drop mid-page: %d devices, %d removed", len(snap.Devices), len(snap.Removed))
		}
		healed(t, r)
		row("connection dropped mid-page (after 15 of 30 entries)", "reconnected and read every page again; 0 removed")
	})
	t.Run("retries exhausted mid-page", func(t *testing.T) {
		r := newFaultRig(t, false)
		r.mustSnapshot(t)
		r.proxy.setRule(func(_ int, toServer bool, op int, _ *ber.Packet) faultAction {
			if !toServer && op == 4 {
				return drop
			}
			return forward
		})
		r.now = r.now.Add(2 * time.Hour)
		_, err := r.snapshot(t)
		wantKind(t, err, directory.ErrUnreachable)
		healed(t, r)
		row("every connection cut mid-page", fmt.Sprintf("DirectoryUnreachable after %d reconnects; previous snapshot kept, next pass 0 changed, 0 removed", r.cfg.MaxRetries))
	})
	t.Run("repeated page", func(t *testing.T) {
		r := newFaultRig(t, false)
		r.mustSnapshot(t)
		r.proxy.setRepeatPage(true)
		r.now = r.now.Add(2 * time.Hour)
		_, err := r.snapshot(t)
		wantKind(t, err, directory.ErrBadData)
		healed(t, r)
		row("server repeats its paging cookie and page", "BadData (no endless paging); previous snapshot kept")
	})
	for _, c := range []struct {
		name   string
		action faultAction
	}{{"busy", replyBusy}, {"adminLimitExceeded", replyAdminLimit}} {
		t.Run(c.name, func(t *testing.T) {
			r := newFaultRig(t, false)
			r.mustSnapshot(t)
			r.proxy.setRule(func(_ int, toServer bool, op int, pkt *ber.Packet) faultAction {
				if toServer && op == opSearchRequest && searchBase(pkt) != "" {
					return c.action
				}
				return forward
			})
			_, err := r.snapshot(t)
			wantKind(t, err, directory.ErrThrottled)
			healed(t, r)
			row("server answers "+c.name, "Throttled (the sync backs off: 10 s doubling up to the interval); previous snapshot kept")
		})
	}
	t.Run("DC stops answering", func(t *testing.T) {
		r := newFaultRig(t, false)
		r.mustSnapshot(t)
		r.proxy.setRule(func(_ int, toServer bool, op int, _ *ber.Packet) faultAction {
			if !toServer && op != 1 && op != opExtendedResponse {
				return swallow
			}
			return forward
		})
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		_, err := r.dir.Snapshot(ctx)
		wantKind(t, err, directory.ErrUnreachable)
		t.Logf("a DC that stops answering ended the pass after %s (timeout 1s, deadline 3s)", time.Since(start).Round(100*time.Millisecond))
		healed(t, r)
		row("DC stops answering (accepts, never replies)", "the pass ended at the request timeout/deadline with DirectoryUnreachable; previous snapshot kept")
	})
	t.Run("bind refused", func(t *testing.T) {
		r := newFaultRig(t, false)
		good, err := os.ReadFile(r.cfg.PasswordFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(r.cfg.PasswordFile, []byte("changed-by-an-admin\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for range 7 {
			_, err := r.snapshot(t)
			kinds = append(kinds, string(directory.KindOf(err)))
		}
		want := "AuthenticationFailed,AuthenticationFailed,AuthenticationFailed,BindSuspended,BindSuspended,BindSuspended,BindSuspended"
		if got := strings.Join(kinds, ","); got != want {
			t.Fatalf("kinds %s, want %s", got, want)
		}
		if n := r.proxy.count(opBindRequest); n != 3 {
			t.Fatalf("%d binds sent, want 3", n)
		}
		r.now = r.now.Add(time.Hour)
		if _, err := r.snapshot(t); directory.KindOf(err) != directory.ErrAuthFailed || r.proxy.count(opBindRequest) != 4 {
			t.Fatalf("an hour later: %v, %d binds", err, r.proxy.count(opBindRequest))
		}
		if err := os.WriteFile(r.cfg.PasswordFile, good, 0o600); err != nil {
			t.Fatal(err)
		}
		r.mustSnapshot(t)
		row("bind refused 7 times (password changed)", "3 binds sent, then BindSuspended; a fourth an hour later; the new password file was used at once")
	})
	t.Run("bad certificates", func(t *testing.T) {
		for _, c := range certificateCases(t) {
			d, err := New(Config{Name: "corp", URLs: []string{c.url}, CAPEM: c.ca, BindDN: "CN=x", PasswordFile: writeTemp(t, "pw"), Timeout: Duration{2 * time.Second}},
				Options{Logger: logr.Discard(), Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Snapshot(context.Background())
			if directory.KindOf(err) != directory.ErrCertificateInvalid {
				t.Fatalf("%s: %v, want CertificateInvalid", c.name, err)
			}
			_ = d.Close()
		}
		row("expired, wrong-host and unknown-CA certificates", "CertificateInvalid (no bind sent)")
	})
	t.Run("rotated CA file", func(t *testing.T) {
		r := newFaultRig(t, true)
		other, _ := newCA(t)
		caFile := writeTemp(t, string(other.pem))
		cfg := r.cfg
		cfg.CAPEM, cfg.CAFile = "", caFile
		d, err := New(cfg, Options{Logger: logr.Discard(), Backoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if _, err := d.Snapshot(context.Background()); directory.KindOf(err) != directory.ErrCertificateInvalid {
			t.Fatalf("with another CA: %v", err)
		}
		if err := os.WriteFile(caFile, r.srv.CAPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Snapshot(context.Background()); err != nil {
			t.Fatalf("after the CA file was rotated: %v", err)
		}
		row("CA file rotated", "the next connection read the new file; no restart")
	})

	t.Log("\n| fault injected | what the backend did |\n|---|---|\n" + strings.Join(rows, "\n"))
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) (*testCA, error) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// tlsServer accepts TLS connections with a certificate from ca for ips/names, valid in
// [notBefore, notAfter], and closes them after the handshake.
func tlsServer(t *testing.T, ca *testCA, ips []net.IP, names []string, notBefore, notAfter time.Time) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dc"}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: ips, DNSNames: names}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	return "ldaps://" + ln.Addr().String()
}

type certCase struct{ name, url, ca string }

func certificateCases(t *testing.T) []certCase {
	ca, _ := newCA(t)
	other, _ := newCA(t)
	loop := []net.IP{net.IPv4(127, 0, 0, 1)}
	now := time.Now()
	return []certCase{
		{"expired", tlsServer(t, ca, loop, nil, now.Add(-48*time.Hour), now.Add(-24*time.Hour)), string(ca.pem)},
		{"wrong host", tlsServer(t, ca, nil, []string{"dc9.elsewhere.example"}, now.Add(-time.Hour), now.Add(time.Hour)), string(ca.pem)},
		{"unknown CA", tlsServer(t, ca, loop, nil, now.Add(-time.Hour), now.Add(time.Hour)), string(other.pem)},
	}
}

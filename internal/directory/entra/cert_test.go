package entra_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/directory/entra"
	"github.com/fleetlaps/fleetlaps/internal/graphemu"
)

// A certificate and key in credentialsDir (a kubernetes.io/tls Secret) sign a client assertion
// that the token endpoint verifies against the registered certificate.
func TestCertificateCredential(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "fleetlaps"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	e := newEnvWith(t, graphemu.Options{ClientCertificatePEM: certPEM}, func(dir string) {
		must(t, os.WriteFile(filepath.Join(dir, entra.CertFile), certPEM, 0o600))
		must(t, os.WriteFile(filepath.Join(dir, entra.KeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	})
	e.emu.AddFleet("pc", 2, t0)
	if s := snapshot(t, e.dir); len(s.Devices) != 2 || e.emu.Count("token") != 1 {
		t.Fatalf("%d devices with %d tokens, want 2 with 1", len(s.Devices), e.emu.Count("token"))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

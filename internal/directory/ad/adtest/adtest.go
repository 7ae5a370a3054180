// Package adtest starts and stops a throw-away Samba AD DC (hack/samba/up.sh) for tests and
// benchmarks of the AD backend. It installs nothing: the Debian packages listed in
// hack/samba/packages.txt must be present (CI's .ci/run installs them).
package adtest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Options control what up.sh provisions.
type Options struct {
	// Computers is how many fleet-NNNNN computer objects to load offline into OU=Fleet (see
	// hack/samba/gen-computers.py for the LAPS state of each).
	Computers int
	// NoLAPSSchema provisions a domain without the msLAPS-* and legacy LAPS schema extension.
	NoLAPSSchema bool
}

// Server is a running Samba AD DC.
type Server struct {
	Dir string
	// LDAPSURL and LDAPURL reach the DC (ldaps://127.x.y.z:636, ldap://127.x.y.z:389).
	LDAPSURL, LDAPURL string
	IP                string
	CAFile            string
	WrongCAFile       string
	Realm, Domain     string
	// Base is the domain's defaultNamingContext.
	Base                   string
	AdminDN, AdminPassword string
	BindDN, BindPassword   string // the controller: outer LAPS ring only
	ReadOnlyDN, ROPassword string // authenticated user without LAPS write rights
	Elapsed                time.Duration
	env                    map[string]string
	scripts                string
}

// RepoRoot finds the module root (the directory holding go.mod) from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("adtest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Start provisions and starts a Samba AD DC in a new temporary directory.
func Start(opts Options) (*Server, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	scripts := filepath.Join(root, "hack", "samba")
	for _, bin := range []string{"samba", "samba-tool", "ldbadd", "ldbmodify", "openssl", "python3"} {
		if _, err := exec.LookPath(bin); err != nil {
			pkgs, _ := os.ReadFile(filepath.Join(scripts, "packages.txt"))
			return nil, fmt.Errorf("adtest: %s not found: the AD integration tests need a Samba AD DC; install the Debian packages %s (hack/samba/packages.txt)",
				bin, strings.Join(strings.Fields(string(pkgs)), " "))
		}
	}
	dir, err := os.MkdirTemp("", "fleetlaps-samba-")
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cmd := exec.Command("bash", filepath.Join(scripts, "up.sh"), dir)
	cmd.Env = append(os.Environ(), "SAMBA_COMPUTERS="+strconv.Itoa(opts.Computers))
	if opts.NoLAPSSchema {
		cmd.Env = append(cmd.Env, "SAMBA_EXTEND_SCHEMA=0")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		_ = exec.Command("bash", filepath.Join(scripts, "down.sh"), dir).Run()
		return nil, fmt.Errorf("adtest: up.sh: %v\n%s", err, stderr.String())
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	s := &Server{
		Dir: dir, env: env, scripts: scripts, Elapsed: time.Since(start),
		LDAPSURL: env["SAMBA_LDAPS_URL"], LDAPURL: env["SAMBA_LDAP_URL"], IP: env["SAMBA_IP"],
		CAFile: env["SAMBA_CA"], WrongCAFile: env["SAMBA_WRONG_CA"],
		Realm: env["SAMBA_REALM"], Domain: env["SAMBA_DOMAIN"], Base: env["SAMBA_BASE"],
		AdminDN: env["SAMBA_ADMIN_DN"], AdminPassword: env["SAMBA_ADMIN_PASSWORD"],
		BindDN: env["SAMBA_BIND_DN"], BindPassword: env["SAMBA_BIND_PASSWORD"],
		ReadOnlyDN: env["SAMBA_RO_DN"], ROPassword: env["SAMBA_RO_PASSWORD"],
	}
	if s.LDAPSURL == "" || s.BindDN == "" {
		_ = s.Stop()
		return nil, fmt.Errorf("adtest: up.sh printed no connection details:\n%s\n%s", out, stderr.String())
	}
	return s, nil
}

// Stop stops the DC and removes its directory (KEEP=1 in the environment keeps it).
func (s *Server) Stop() error {
	if s == nil {
		return nil
	}
	return exec.Command("bash", filepath.Join(s.scripts, "down.sh"), s.Dir).Run()
}

// Env returns one of the KEY=value lines up.sh printed.
func (s *Server) Env(key string) string { return s.env[key] }

// WriteSecret writes a password file (as a mounted Secret would hold it) and returns its path.
func (s *Server) WriteSecret(name, password string) (string, error) {
	p := filepath.Join(s.Dir, "secret-"+name)
	return p, os.WriteFile(p, []byte(password+"\n"), 0o600)
}

// Admin returns an LDAPS connection bound as the domain Administrator, for test setup.
func (s *Server) Admin() (*ldap.Conn, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: s.IP}))
	if err != nil {
		return nil, err
	}
	if err := conn.Bind(s.AdminDN, s.AdminPassword); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

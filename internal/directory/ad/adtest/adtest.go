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
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
	// SMB also serves SYSVOL (smbd, winbindd, cldap) and creates the Group Policy publishing
	// accounts. Only one such DC can run on a machine (smbd finds winbindd only in
	// /run/samba/winbindd): Start waits for a machine-wide file lock that Stop, or the end of
	// the test binary, releases.
	SMB bool
	// CacheDir, when set, keeps the provisioned tree (computers loaded, never started) in a
	// subdirectory of CacheDir named by a hash of everything that shapes it (the harness
	// scripts, the schema LDIFs, samba --version, Computers, NoLAPSSchema, the fixture week),
	// and starts the DC from a private copy of it: a big fleet is loaded once per machine. The
	// fixtures' time base is then midnight UTC at most 8 days back (FixtureT0). Not with SMB.
	CacheDir string
	// LoadChunk is how many computers one ldbadd transaction adds (SAMBA_LOAD_CHUNK; default
	// 5000). A fleet bigger than one chunk is loaded with the indexes of shared values off
	// (hack/samba/up.sh explains why); tests set it low to take that path with few computers.
	LoadChunk int
}

// smbLockPath serialises SMB-enabled DCs across test binaries.
const smbLockPath = "/run/samba/fleetlaps-smb-dc.lock"

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
	// FixtureT0 is the time base of the generated computers' LAPS times (gen-computers.py:
	// update = FixtureT0 + i minutes, expiry = update + 30 days): midnight UTC of the previous
	// day, so the fixtures never expire with the calendar.
	FixtureT0              time.Time
	ReadOnlyDN, ROPassword string // authenticated user without LAPS write rights
	// SMB only: SYSVOL's host:port and the Group Policy publishing accounts (hack/samba/up.sh):
	// GPODN has exactly the documented rights (OU=Linked and below for gPLink), GPONoSysvolDN
	// lacks the SYSVOL right, GPONoneDN has none. All share GPOPassword.
	SMBAddress                      string
	GPODN, GPONoSysvolDN, GPONoneDN string
	GPOPassword                     string
	// Elapsed is the whole Start; Load is the part spent provisioning and loading the computers
	// (zero when the tree came from the cache); Cached says it did, and CachedLoad is how long
	// building that cache entry took.
	Elapsed, Load, CachedLoad time.Duration
	Cached                    bool
	smbLock                   *os.File
	env                       map[string]string
	scripts                   string
	proc                      *exec.Cmd
	exited                    chan error
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
	start := time.Now()
	var lock *os.File
	if opts.SMB {
		if lock, err = lockSMB(); err != nil {
			return nil, err
		}
	}
	// With a cache, build (or wait for) the entry before making the DC's directory, so that an
	// interrupted build leaves no empty directory behind.
	var (
		entry string
		built time.Duration
		info  cacheEntry
	)
	if opts.CacheDir != "" {
		if entry, built, info, err = cachedTree(opts, scripts); err != nil {
			unlockSMB(lock)
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "fleetlaps-samba-")
	if err != nil {
		unlockSMB(lock)
		return nil, err
	}
	if opts.SMB {
		// smbd serves each SMB user as that user's Unix id: it must be able to walk down to
		// SYSVOL (MkdirTemp makes the directory 0700).
		if err := os.Chmod(dir, 0o755); err != nil {
			unlockSMB(lock)
			return nil, err
		}
	}
	var (
		out, stderr []byte
		load        time.Duration
		fromCache   *cacheEntry
	)
	if opts.CacheDir != "" {
		load, fromCache = built, &info
		if err = copyTree(entry, dir); err == nil {
			if out, stderr, err = run(exec.Command("bash", filepath.Join(scripts, "relocate.sh"), dir)); err != nil {
				err = fmt.Errorf("adtest: relocate.sh: %v\n%s", err, stderr)
			}
		}
		if err != nil {
			_ = os.RemoveAll(dir)
			unlockSMB(lock)
			return nil, err
		}
	} else {
		cmd := exec.Command("bash", filepath.Join(scripts, "up.sh"), dir)
		cmd.Env = append(upEnv(opts), "SAMBA_START=0")
		if out, stderr, err = run(cmd); err != nil {
			_ = exec.Command("bash", filepath.Join(scripts, "down.sh"), dir).Run()
			unlockSMB(lock)
			return nil, fmt.Errorf("adtest: up.sh: %v\n%s", err, stderr)
		}
		load = time.Since(start)
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
		SMBAddress: env["SAMBA_SMB_ADDR"], GPODN: env["SAMBA_GPO_DN"], GPONoSysvolDN: env["SAMBA_GPO_NOSYSVOL_DN"],
		GPONoneDN: env["SAMBA_GPO_NONE_DN"], GPOPassword: env["SAMBA_GPO_PASSWORD"], smbLock: lock,
		Load: load,
	}
	if fromCache != nil {
		s.Cached = load == 0
		s.CachedLoad = time.Duration(fromCache.LoadSeconds * float64(time.Second))
	}
	t0, err := strconv.ParseInt(env["SAMBA_FIXTURE_T0"], 10, 64)
	if err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("adtest: up.sh printed no usable SAMBA_FIXTURE_T0 (%q): %v", env["SAMBA_FIXTURE_T0"], err)
	}
	s.FixtureT0 = time.Unix(t0, 0).UTC()
	if s.LDAPSURL == "" || s.BindDN == "" || env["SAMBA_CONF"] == "" {
		_ = s.Stop()
		return nil, fmt.Errorf("adtest: up.sh printed no connection details:\n%s\n%s", out, stderr)
	}
	if err := s.startSamba(); err != nil {
		_ = s.Stop()
		return nil, err
	}
	s.Elapsed = time.Since(start)
	return s, nil
}

// upEnv is the environment of up.sh for opts.
func upEnv(opts Options) []string {
	env := append(os.Environ(), "SAMBA_COMPUTERS="+strconv.Itoa(opts.Computers))
	if opts.NoLAPSSchema {
		env = append(env, "SAMBA_EXTEND_SCHEMA=0")
	}
	if opts.SMB {
		env = append(env, "SAMBA_SMB=1")
	}
	if opts.LoadChunk > 0 {
		env = append(env, "SAMBA_LOAD_CHUNK="+strconv.Itoa(opts.LoadChunk))
	}
	return env
}

// run runs cmd and returns its standard output and error.
func run(cmd *exec.Cmd) (stdout, stderr []byte, err error) {
	var e bytes.Buffer
	cmd.Stderr = &e
	stdout, err = cmd.Output()
	return stdout, e.Bytes(), err
}

// startSamba runs samba as a child that dies with the test binary (see pdeathsig), writes its
// pid where down.sh looks, and waits for LDAPS to accept connections.
func (s *Server) startSamba() error {
	logf, err := os.Create(filepath.Join(s.Dir, "samba.out"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("samba", "-F", "--no-process-group", "-M", "single", "-s", s.env["SAMBA_CONF"])
	cmd.Stdout, cmd.Stderr = logf, logf
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("adtest: starting samba: %w", err)
	}
	s.proc = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.exited = exited
	if err := os.WriteFile(filepath.Join(s.Dir, "samba.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return err
	}
	addrs := []string{s.IP + ":636"}
	if s.SMBAddress != "" {
		addrs = append(addrs, s.SMBAddress)
	}
	for _, addr := range addrs {
		if err := s.waitFor(addr, exited); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) waitFor(addr string, exited chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err // for Stop
			out, _ := os.ReadFile(filepath.Join(s.Dir, "samba.out"))
			return fmt.Errorf("adtest: samba exited (%v):\n%s", err, out)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("adtest: samba did not open %s within 60s", addr)
}

// Stop stops the DC and removes its directory (KEEP=1 in the environment keeps it).
func (s *Server) Stop() error {
	if s == nil {
		return nil
	}
	if s.proc != nil && s.proc.Process != nil {
		_ = s.proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.proc.Process.Kill()
			<-s.exited
		}
		s.proc = nil
	}
	err := exec.Command("bash", filepath.Join(s.scripts, "down.sh"), s.Dir).Run()
	unlockSMB(s.smbLock)
	s.smbLock = nil
	return err
}

// lockSMB takes the machine-wide SMB DC lock, waiting for another test binary's DC to stop.
// The kernel releases it when the process ends, however it ends.
func lockSMB() (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(smbLockPath), 0o755); err != nil {
		return nil, fmt.Errorf("adtest: %w", err)
	}
	f, err := os.OpenFile(smbLockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("adtest: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("adtest: locking %s: %w", smbLockPath, err)
	}
	return f, nil
}

func unlockSMB(f *os.File) {
	if f != nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}
}

// SambaTool runs samba-tool against the DC as Administrator (over LDAP and, for the gpo
// commands that need it, SMB) and returns its standard output.
func (s *Server) SambaTool(args ...string) (string, error) {
	full := append(args, "-H", "ldap://"+s.IP, "-U", "Administrator", "--password="+s.AdminPassword, "-s", s.env["SAMBA_CONF"])
	cmd := exec.Command("samba-tool", full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("samba-tool %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}

// Pid is samba's process id (0 when it is not running).
func (s *Server) Pid() int {
	if s.proc == nil || s.proc.Process == nil {
		return 0
	}
	return s.proc.Process.Pid
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

package entra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/entra"
	"github.com/fleetlaps/fleetlaps/internal/graphemu"
)

// clock is the shared test clock of the backend and the emulator.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// env is one emulator and a backend built from directories-file settings pointing at it, as
// the manager builds it.
type env struct {
	emu   *graphemu.Server
	clk   *clock
	dir   directory.Directory
	creds string
}

func newEnv(t testing.TB, opts graphemu.Options, settings map[string]any) *env {
	t.Helper()
	return newEnvWith(t, opts, nil, settings)
}

// newEnvWith lets writeCreds fill credentialsDir (default: the emulator's client secret).
func newEnvWith(t testing.TB, opts graphemu.Options, writeCreds func(dir string), settings ...map[string]any) *env {
	t.Helper()
	clk := &clock{now: t0}
	opts.Now = clk.Now
	emu := graphemu.New(t, opts)
	t.Cleanup(emu.Close)
	e := &env{emu: emu, clk: clk, creds: t.TempDir()}
	if writeCreds != nil {
		writeCreds(e.creds)
	} else {
		if err := os.WriteFile(filepath.Join(e.creds, entra.SecretFile), []byte(emu.ClientSecret()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var extra map[string]any
	if len(settings) > 0 {
		extra = settings[0]
	}
	e.dir = e.open(t, extra)
	return e
}

func (e *env) open(t testing.TB, extra map[string]any) directory.Directory {
	t.Helper()
	ca, err := e.emu.WriteCAFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := map[string]any{
		"tenantID": e.emu.TenantID(), "clientID": e.emu.ClientID(),
		"graphEndpoint": e.emu.URL(), "authorityHost": e.emu.URL(), "caFile": ca,
	}
	for k, v := range extra {
		s[k] = v
	}
	raw, _ := json.Marshal(s)
	d, err := entra.SettingsOpener(entra.Options{Now: e.clk.Now})("tenant-a", raw, e.creds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

package adtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A cache entry is the tree up.sh prepares with SAMBA_START=0: provisioned, schema extended,
// accounts and computers loaded, never started. Loading a big fleet takes minutes, so benchmarks
// build it once per machine and start every DC from a private copy (relocate.sh gives the copy
// its own address, certificates and paths). Samba writes to its database in place, so the entry
// itself is never started.

// cacheEntryFile records how the entry was built; it is written last, before the rename that
// publishes the entry.
const cacheEntryFile = "cache-entry.json"

// cacheEntry is what cacheEntryFile holds.
type cacheEntry struct {
	Computers    int       `json:"computers"`
	LoadSeconds  float64   `json:"loadSeconds"`
	Built        time.Time `json:"built"`
	SambaVersion string    `json:"sambaVersion"`
	FixtureT0    int64     `json:"fixtureT0"`
}

// cacheMaxAge is when an unused entry is removed: by then its fixture week is long past and a new
// entry exists for the current one.
const cacheMaxAge = 15 * 24 * time.Hour

// DefaultCacheDir is where benchmarks keep their provisioned DCs: bin/samba in the repository
// (bin/ is ignored by git and shared by the worktrees of one machine).
func DefaultCacheDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin", "samba"), nil
}

// fixtureWeek is the fixture time base of cached trees: midnight UTC at most 8 days back, the
// same for a whole week, so an entry is reused for a week and its LAPS expiries (T0 + 30 days
// and later) still lie ahead. Uncached DCs use the previous midnight (up.sh's default).
func fixtureWeek(now time.Time) int64 {
	day := now.Unix()/86400 - 1
	return (day - day%7) * 86400
}

// cacheKey names the entry for opts: everything that shapes the tree goes into the hash. Comment
// lines of the scripts do not (correcting a comment should not cost a 100,000-computer reload).
func cacheKey(opts Options, scripts string, t0 int64) (key, sambaVersion string, err error) {
	h := sha256.New()
	for _, f := range []string{"up.sh", "lib.sh", "gen-computers.py", "laps-schema-attributes.ldif", "laps-schema-class.ldif"} {
		b, err := os.ReadFile(filepath.Join(scripts, f))
		if err != nil {
			return "", "", fmt.Errorf("adtest: cache key: %w", err)
		}
		b = withoutCommentLines(b)
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	out, err := exec.Command("samba", "--version").Output()
	if err != nil {
		return "", "", fmt.Errorf("adtest: samba --version: %w", err)
	}
	sambaVersion = strings.TrimSpace(string(out))
	fmt.Fprintf(h, "samba %s\ncomputers %d\nnoLAPSSchema %t\nt0 %d\n", sambaVersion, opts.Computers, opts.NoLAPSSchema, t0)
	if opts.LoadChunk != 0 {
		fmt.Fprintf(h, "loadChunk %d\n", opts.LoadChunk)
	}
	schema := "laps"
	if opts.NoLAPSSchema {
		schema = "nolaps"
	}
	return fmt.Sprintf("%d-computers-%s-%s", opts.Computers, schema, hex.EncodeToString(h.Sum(nil))[:16]), sambaVersion, nil
}

// cachedTree returns the cache entry for opts, building it first when there is none (then
// built is the time that took). Builders of the same entry wait for each other on a lock file;
// an entry is built in a temporary directory and renamed into place only when complete, so an
// interrupted build is never used (the next builder removes its leftovers).
func cachedTree(opts Options, scripts string) (entry string, built time.Duration, loaded cacheEntry, err error) {
	if opts.SMB {
		return "", 0, cacheEntry{}, errors.New("adtest: CacheDir is not supported with SMB (SYSVOL permissions name this machine's accounts)")
	}
	t0 := fixtureWeek(time.Now())
	key, sambaVersion, err := cacheKey(opts, scripts, t0)
	if err != nil {
		return "", 0, cacheEntry{}, err
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return "", 0, cacheEntry{}, fmt.Errorf("adtest: cache: %w", err)
	}
	entry = filepath.Join(opts.CacheDir, key)
	if e, err := readCacheEntry(entry); err == nil {
		return entry, 0, e, nil
	}
	lock, err := os.OpenFile(entry+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", 0, cacheEntry{}, fmt.Errorf("adtest: cache: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", 0, cacheEntry{}, fmt.Errorf("adtest: cache lock: %w", err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if e, err := readCacheEntry(entry); err == nil { // another builder finished while we waited
		return entry, 0, e, nil
	}
	// Holding the lock, any temporary tree of this key is an interrupted build.
	leftovers, _ := filepath.Glob(filepath.Join(opts.CacheDir, ".tmp-"+key+"-*"))
	for _, l := range leftovers {
		_ = os.RemoveAll(l)
	}
	_ = os.RemoveAll(entry) // a directory without cacheEntryFile is incomplete too
	tmp, err := os.MkdirTemp(opts.CacheDir, ".tmp-"+key+"-")
	if err != nil {
		return "", 0, cacheEntry{}, fmt.Errorf("adtest: cache: %w", err)
	}
	start := time.Now()
	cmd := exec.Command("bash", filepath.Join(scripts, "up.sh"), tmp)
	cmd.Env = append(upEnv(opts), "SAMBA_START=0", "SAMBA_FIXTURE_T0="+strconv.FormatInt(t0, 10))
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(tmp)
		return "", 0, cacheEntry{}, fmt.Errorf("adtest: up.sh for the cache: %v\n%s", err, out)
	}
	built = time.Since(start)
	_ = os.Remove(filepath.Join(tmp, "computers.ldif")) // the data is in the database now
	loaded = cacheEntry{Computers: opts.Computers, LoadSeconds: built.Seconds(), Built: time.Now().UTC(), SambaVersion: sambaVersion, FixtureT0: t0}
	b, _ := json.MarshalIndent(loaded, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, cacheEntryFile), append(b, '\n'), 0o644); err != nil {
		_ = os.RemoveAll(tmp)
		return "", 0, cacheEntry{}, fmt.Errorf("adtest: cache: %w", err)
	}
	if err := os.Rename(tmp, entry); err != nil {
		_ = os.RemoveAll(tmp)
		return "", 0, cacheEntry{}, fmt.Errorf("adtest: cache: %w", err)
	}
	pruneCache(opts.CacheDir, entry)
	return entry, built, loaded, nil
}

// withoutCommentLines drops the lines whose first non-blank character is # (shell, Python and
// LDIF comments).
func withoutCommentLines(b []byte) []byte {
	var out []byte
	for line := range bytes.Lines(b) {
		if t := bytes.TrimLeft(line, " \t"); len(t) > 0 && t[0] == '#' {
			continue
		}
		out = append(out, line...)
	}
	return out
}

func readCacheEntry(entry string) (cacheEntry, error) {
	var e cacheEntry
	b, err := os.ReadFile(filepath.Join(entry, cacheEntryFile))
	if err != nil {
		return e, err
	}
	return e, json.Unmarshal(b, &e)
}

// pruneCache removes entries not built or used for cacheMaxAge (other fixture weeks, older
// scripts), keeping keep, and the temporary trees of interrupted builds of any entry (a build
// holds its entry's lock).
func pruneCache(dir, keep string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range ents {
		p := filepath.Join(dir, de.Name())
		if key, ok := strings.CutPrefix(de.Name(), ".tmp-"); ok && de.IsDir() {
			if i := strings.LastIndex(key, "-"); i > 0 {
				removeIfUnlocked(p, filepath.Join(dir, key[:i]+".lock"))
			}
			continue
		}
		if p == keep || !de.IsDir() || !strings.Contains(de.Name(), "-computers-") || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		fi, err := os.Stat(filepath.Join(p, cacheEntryFile))
		if errors.Is(err, fs.ErrNotExist) || (err == nil && time.Since(fi.ModTime()) > cacheMaxAge) {
			_ = os.RemoveAll(p)
			_ = os.Remove(p + ".lock")
		}
	}
}

// removeIfUnlocked removes tree unless a builder holds lockPath.
func removeIfUnlocked(tree, lockPath string) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return // being built
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	_ = os.RemoveAll(tree)
}

// copyTree makes dst (existing, empty) a private copy of the cache entry and marks the entry used
// (pruneCache keeps entries in use).
func copyTree(entry, dst string) error {
	if out, err := exec.Command("cp", "-a", "--reflink=auto", entry+"/.", dst+"/").CombinedOutput(); err != nil {
		return fmt.Errorf("adtest: copying %s: %v\n%s", entry, err, out)
	}
	now := time.Now()
	_ = os.Chtimes(filepath.Join(entry, cacheEntryFile), now, now)
	return nil
}

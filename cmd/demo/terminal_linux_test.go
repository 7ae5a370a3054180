package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { _ = master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = slave.Close() })
	return master, slave
}

func TestWatchQuitKeys_StopsOnQAndCtrlCAndRestoresTheTerminal(t *testing.T) {
	for name, key := range map[string]string{"q": "q", "Ctrl-C": "\x03"} {
		t.Run(name, func(t *testing.T) {
			master, slave := openPTY(t)
			before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			ctx, restore, ok := watchQuitKeys(context.Background(), slave)
			if !ok {
				t.Fatal("a pseudo-terminal was not taken for a terminal")
			}
			during, _ := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if during.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 {
				t.Errorf("terminal still in line mode, echo or signal keys: lflag %#x", during.Lflag)
			}
			if _, err := master.WriteString("x" + key); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("typing %q did not stop the demo", key)
			}
			restore()
			after, _ := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if after.Lflag != before.Lflag {
				t.Errorf("terminal not restored: lflag %#x, was %#x", after.Lflag, before.Lflag)
			}
		})
	}
	t.Run("not a terminal", func(t *testing.T) {
		f, err := os.CreateTemp(t.TempDir(), "stdin")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, _, ok := watchQuitKeys(context.Background(), f); ok || isTerminal(f) {
			t.Error("a regular file was taken for a terminal")
		}
	})
}

func TestIsQuitKey(t *testing.T) {
	for b, want := range map[byte]bool{'q': true, 'Q': true, 0x03: true, 0x04: true, 'x': false, '\n': false, ' ': false} {
		if isQuitKey(b) != want {
			t.Errorf("isQuitKey(%q) = %v", b, !want)
		}
	}
}

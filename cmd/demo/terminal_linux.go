package main

import (
	"context"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// watchQuitKeys puts the terminal on in into single-key mode without echo and without signal
// keys, and cancels the returned context when q, Q or Ctrl-C is typed. Ctrl-C then reaches the
// demo as a key, not as SIGINT to the whole process group: make and `go run` around the demo
// are not interrupted, the demo cleans up and everything exits 0. restore puts the terminal
// back (call it before cleaning up, so a second Ctrl-C interrupts as usual). ok is false when
// in is not a terminal.
func watchQuitKeys(ctx context.Context, in *os.File) (_ context.Context, restore func(), ok bool) {
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return ctx, func() {}, false
	}
	raw := *old
	raw.Lflag &^= unix.ICANON | unix.ECHO | unix.ISIG
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return ctx, func() {}, false
	}
	ctx, cancel := context.WithCancel(ctx)
	var once sync.Once
	putBack := func() { once.Do(func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }) }
	go func() {
		buf := make([]byte, 1)
		for {
			n, err := in.Read(buf)
			if err != nil {
				return
			}
			if n == 1 && isQuitKey(buf[0]) {
				cancel()
				return
			}
		}
	}()
	return ctx, func() { putBack(); cancel() }, true
}

// isQuitKey: q, Q, Ctrl-C (ETX) or Ctrl-D (EOT) end the interactive demo.
func isQuitKey(b byte) bool { return b == 'q' || b == 'Q' || b == 0x03 || b == 0x04 }

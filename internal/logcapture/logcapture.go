// Package logcapture keeps every line a logr.Logger writes, so tests can read what was logged
// and prove that no secret reached the logs.
package logcapture

import (
	"bytes"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// Buffer holds log lines; it is safe for concurrent use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// New returns a buffer and a logger writing every line up to verbosity into it.
func New(verbosity int) (*Buffer, logr.Logger) {
	b := &Buffer{}
	return b, funcr.New(b.write, funcr.Options{Verbosity: verbosity})
}

func (b *Buffer) write(prefix, args string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(prefix + " " + args + "\n")
}

// String returns everything logged so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Contains says whether s was logged.
func (b *Buffer) Contains(s string) bool { return strings.Contains(b.String(), s) }

package logcapture

import (
	"errors"
	"sync"
	"testing"
)

func TestBuffer_KeepsEveryLineFromConcurrentWriters(t *testing.T) {
	buf, log := New(1)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("snapshot", "worker", i)
			log.V(1).Info("detail")
			log.V(2).Info("too verbose")
		}()
	}
	wg.Wait()
	log.Error(errors.New("bind failed"), "connecting", "directory", "corp")
	if !buf.Contains(`"directory"="corp"`) || !buf.Contains("bind failed") {
		t.Fatalf("missing lines:\n%s", buf)
	}
	if buf.Contains("too verbose") {
		t.Fatal("a line above the verbosity was kept")
	}
}

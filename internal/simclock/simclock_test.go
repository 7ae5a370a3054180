package simclock

import (
	"testing"
	"time"
)

var epoch = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func TestScaledClockRunsFaster(t *testing.T) {
	c := New(epoch, 3600) // an hour per second
	start := time.Now()
	got := <-c.After(30 * time.Minute)
	real := time.Since(start)
	if real < 400*time.Millisecond || real > 3*time.Second {
		t.Fatalf("30 simulated minutes took %v real", real)
	}
	if got.Before(epoch.Add(30*time.Minute)) || got.After(epoch.Add(3*time.Hour)) {
		t.Fatalf("timer delivered %v", got)
	}
	if d := c.Since(epoch); d < 30*time.Minute {
		t.Fatalf("Since(epoch) = %v", d)
	}

	fired := make(chan struct{})
	c.AfterFunc(time.Minute, func() { close(fired) })
	select {
	case <-fired:
	case <-time.After(2 * time.Second):
		t.Fatal("AfterFunc did not fire")
	}

	tk := c.NewTicker(6 * time.Minute) // 100 ms real
	for range 3 {
		select {
		case <-tk.C():
		case <-time.After(2 * time.Second):
			t.Fatal("ticker did not tick")
		}
	}
	tk.Stop()

	tm := c.NewTimer(time.Hour)
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	tm.Reset(time.Minute)
	select {
	case <-tm.C():
	case <-time.After(2 * time.Second):
		t.Fatal("reset timer did not fire")
	}
}

func TestFreeze(t *testing.T) {
	c := New(epoch, 3600)
	time.Sleep(20 * time.Millisecond)
	at := c.Freeze()
	time.Sleep(20 * time.Millisecond)
	if !c.Now().Equal(at) || at.Before(epoch.Add(time.Minute)) || !c.Freeze().Equal(at) {
		t.Fatalf("frozen at %v, now %v", at, c.Now())
	}
}

func TestNewStoppedStartsOnStart(t *testing.T) {
	c := NewStopped(epoch, 3600)
	time.Sleep(20 * time.Millisecond)
	if !c.Now().Equal(epoch) {
		t.Fatalf("stopped clock moved: %v", c.Now())
	}
	c.Start()
	time.Sleep(20 * time.Millisecond)
	if d := c.Since(epoch); d < 30*time.Second || d > 10*time.Minute {
		t.Fatalf("20ms after Start: %v simulated", d)
	}
}

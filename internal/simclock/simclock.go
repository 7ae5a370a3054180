// Package simclock is the demo's fast clock: simulated time that runs speed times faster than
// real time from a chosen epoch. One Scaled clock is shared by the fleet, the embedded
// directory and (once wired) the controllers, so every part sees the same simulated now.
package simclock

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Scaled is a clock.WithTickerAndDelayedExecution whose time runs speed times faster than the
// real clock; durations given to its timers are simulated durations.
type Scaled struct {
	real  clock.WithTickerAndDelayedExecution
	start time.Time // real time at epoch
	epoch time.Time
	speed float64

	mu      sync.RWMutex
	frozen  time.Time // non-zero while stopped: before Start, after Freeze
	waiting bool      // created by NewStopped and not started yet
}

var _ clock.WithTickerAndDelayedExecution = (*Scaled)(nil)

// New returns a clock that reads epoch now and advances speed simulated seconds per real second.
func New(epoch time.Time, speed float64) *Scaled {
	return newWith(clock.RealClock{}, epoch, speed)
}

func newWith(real clock.WithTickerAndDelayedExecution, epoch time.Time, speed float64) *Scaled {
	if speed <= 0 {
		speed = 1
	}
	return &Scaled{real: real, start: real.Now(), epoch: epoch, speed: speed}
}

// NewStopped returns a clock that reads epoch until Start is called, so a run's simulated time
// begins when everything is up rather than while the control plane starts.
func NewStopped(epoch time.Time, speed float64) *Scaled {
	c := New(epoch, speed)
	c.frozen, c.waiting = epoch, true
	return c
}

// Start lets a stopped clock run from its epoch, speed times faster than real time. It does
// nothing on a running clock.
func (c *Scaled) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting {
		c.start = c.real.Now()
		c.frozen, c.waiting = time.Time{}, false
	}
}

// Speed is the number of simulated seconds per real second.
func (c *Scaled) Speed() float64 { return c.speed }

// Epoch is the simulated time the clock started at.
func (c *Scaled) Epoch() time.Time { return c.epoch }

// Now is the simulated time.
func (c *Scaled) Now() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.frozen.IsZero() {
		return c.frozen
	}
	return c.epoch.Add(time.Duration(float64(c.real.Since(c.start)) * c.speed))
}

// Freeze stops simulated time at its current value and returns it: the end of a run, so a
// summary reads one consistent instant. Timers still pending fire in real time as before.
func (c *Scaled) Freeze() time.Time {
	now := c.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen.IsZero() {
		c.frozen = now
	}
	c.waiting = false
	return c.frozen
}

// Since is the simulated time elapsed since t.
func (c *Scaled) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Real converts a simulated duration to the real duration it takes.
func (c *Scaled) Real(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) / c.speed)
}

// After fires once after the simulated duration d, delivering the simulated time.
func (c *Scaled) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).C() }

// Sleep sleeps for the simulated duration d.
func (c *Scaled) Sleep(d time.Duration) { c.real.Sleep(c.Real(d)) }

// Tick is NewTicker(d).C() without a way to stop it.
func (c *Scaled) Tick(d time.Duration) <-chan time.Time { return c.NewTicker(d).C() }

// NewTimer fires after the simulated duration d.
func (c *Scaled) NewTimer(d time.Duration) clock.Timer {
	t := &timer{clock: c, ch: make(chan time.Time, 1)}
	t.t = c.real.AfterFunc(c.Real(d), t.fire)
	return t
}

// AfterFunc runs f after the simulated duration d.
func (c *Scaled) AfterFunc(d time.Duration, f func()) clock.Timer {
	t := &timer{clock: c, f: f}
	t.t = c.real.AfterFunc(c.Real(d), t.fire)
	return t
}

// NewTicker ticks every simulated d.
func (c *Scaled) NewTicker(d time.Duration) clock.Ticker {
	rt := c.real.NewTicker(max(c.Real(d), time.Microsecond))
	t := &ticker{rt: rt, ch: make(chan time.Time, 1), done: make(chan struct{})}
	go func() {
		for {
			select {
			case <-t.done:
				return
			case <-rt.C():
				select {
				case t.ch <- c.Now():
				default:
				}
			}
		}
	}()
	return t
}

type timer struct {
	clock *Scaled
	mu    sync.Mutex
	t     clock.Timer
	ch    chan time.Time
	f     func()
}

func (t *timer) fire() {
	if t.f != nil {
		t.f()
		return
	}
	select {
	case t.ch <- t.clock.Now():
	default:
	}
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t.Stop()
}

func (t *timer) Reset(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t.Reset(t.clock.Real(d))
}

type ticker struct {
	rt   clock.Ticker
	ch   chan time.Time
	once sync.Once
	done chan struct{}
}

func (t *ticker) C() <-chan time.Time { return t.ch }

func (t *ticker) Stop() {
	t.once.Do(func() {
		t.rt.Stop()
		close(t.done)
	})
}

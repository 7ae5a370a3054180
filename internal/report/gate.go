package report

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// gate is the server's memory per device: its rate limiter, the newest sequence accepted and
// what was last written. One report per device is processed at a time (lock), so a sequence
// is checked and recorded atomically with its write.
type gate struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	devices map[DeviceRef]*deviceGate
}

type deviceGate struct {
	lock    sync.Mutex
	limiter *rate.Limiter
	lastSeq int64
	last    *written
}

func newGate(perMinute float64, burst int) *gate {
	return &gate{limit: rate.Limit(perMinute / 60), burst: burst, devices: map[DeviceRef]*deviceGate{}}
}

func (g *gate) device(d DeviceRef) *deviceGate {
	g.mu.Lock()
	defer g.mu.Unlock()
	dg := g.devices[d]
	if dg == nil {
		dg = &deviceGate{limiter: rate.NewLimiter(g.limit, g.burst)}
		g.devices[d] = dg
	}
	return dg
}

// allow takes one report from the device's budget at now; when refused it says how long until
// the next one is allowed.
func (dg *deviceGate) allow(now time.Time) (bool, time.Duration) {
	if dg.limiter.AllowN(now, 1) {
		return true, 0
	}
	r := dg.limiter.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return false, wait
}

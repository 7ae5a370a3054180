package fleetsim

import (
	"fmt"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/fleetlaps/fleetlaps/internal/ldapserver"
)

// BenchmarkSimulation runs n devices for 72 simulated hours (passwordAgeDays 1) through the
// in-process device channel and reports simulated device-hours per second.
func BenchmarkSimulation(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				clk := clocktesting.NewFakeClock(t0)
				st := ldapserver.NewStore(ldapserver.StoreConfig{Clock: clk})
				f := New(Config{Seed: 1, BlobSize: 256}, st, ldapserver.Identity{}, clk)
				p := shortPolicy()
				for i := range n {
					name := fmt.Sprintf("PC-%06d", i)
					dn, err := st.AddComputer(ldapserver.Computer{Name: name})
					if err != nil {
						b.Fatal(err)
					}
					if err := f.AddDevice(DeviceSpec{Name: name, DN: dn}, p); err != nil {
						b.Fatal(err)
					}
				}
				start := time.Now()
				for range 72 * 12 {
					clk.Step(5 * time.Minute)
					f.Tick(clk.Now())
				}
				b.ReportMetric(float64(n*72)/time.Since(start).Seconds(), "device-h/s")
			}
		})
	}
}

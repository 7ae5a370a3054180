package schedule_test

import (
	"testing"
	"time"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/schedule"
)

func TestSlot(t *testing.T) {
	// t0 is Friday 10:00 UTC.
	fridayNight := []lapsv1.MaintenanceWindow{{Days: []lapsv1.DayOfWeek{"Friday"}, Start: "22:00", DurationMinutes: 60, TimeZone: "UTC"}}
	fridayMorning := []lapsv1.MaintenanceWindow{{Days: []lapsv1.DayOfWeek{"Friday"}, Start: "09:00", DurationMinutes: 120, TimeZone: "UTC"}}
	ago := func(d time.Duration) time.Time { return t0.Add(-d) }
	tests := []struct {
		name string
		in   schedule.SlotInput
		want schedule.SlotWait
		// retry is checked when not zero.
		retry time.Time
	}{
		{"no snapshot yet waits even without limits", schedule.SlotInput{}, schedule.SlotNoSnapshot, t0.Add(schedule.SnapshotRetry)},
		{"no limits go", schedule.SlotInput{SnapshotLoaded: true, InFlight: 1000}, schedule.SlotGo, time.Time{}},
		{"closed window waits for its opening", schedule.SlotInput{SnapshotLoaded: true, Windows: fridayNight}, schedule.SlotWindow, time.Date(2026, 11, 20, 22, 0, 0, 0, time.UTC)},
		{"open window go", schedule.SlotInput{SnapshotLoaded: true, Windows: fridayMorning}, schedule.SlotGo, time.Time{}},
		{"invalid window", schedule.SlotInput{SnapshotLoaded: true, Windows: []lapsv1.MaintenanceWindow{{Days: []lapsv1.DayOfWeek{"Friday"}, Start: "25:00", DurationMinutes: 60}}}, schedule.SlotInvalidWindow, time.Time{}},
		{"window before concurrency", schedule.SlotInput{SnapshotLoaded: true, Windows: fridayNight, MaxConcurrent: 1, InFlight: 5}, schedule.SlotWindow, time.Time{}},
		{"maxConcurrent reached", schedule.SlotInput{SnapshotLoaded: true, MaxConcurrent: 2, InFlight: 2}, schedule.SlotConcurrency, t0.Add(schedule.ConcurrencyRetry)},
		{"below maxConcurrent", schedule.SlotInput{SnapshotLoaded: true, MaxConcurrent: 2, InFlight: 1}, schedule.SlotGo, time.Time{}},
		{"rate below limit", schedule.SlotInput{SnapshotLoaded: true, RatePerMinute: 2, RecentWrites: []time.Time{ago(10 * time.Second)}}, schedule.SlotGo, time.Time{}},
		{"rate reached: the oldest write leaves the window", schedule.SlotInput{SnapshotLoaded: true, RatePerMinute: 2,
			RecentWrites: []time.Time{ago(10 * time.Second), ago(40 * time.Second)}}, schedule.SlotRate, t0.Add(20 * time.Second)},
		{"writes a minute old or older do not count", schedule.SlotInput{SnapshotLoaded: true, RatePerMinute: 1,
			RecentWrites: []time.Time{ago(time.Minute), ago(time.Hour)}}, schedule.SlotGo, time.Time{}},
		{"writes recorded in this pass (now) count", schedule.SlotInput{SnapshotLoaded: true, RatePerMinute: 1, RecentWrites: []time.Time{t0}}, schedule.SlotRate, t0.Add(time.Minute)},
		{"a write from a clock that went back still counts", schedule.SlotInput{SnapshotLoaded: true, RatePerMinute: 1, RecentWrites: []time.Time{t0.Add(time.Hour)}}, schedule.SlotRate, t0.Add(time.Hour + time.Minute)},
		{"concurrency before rate", schedule.SlotInput{SnapshotLoaded: true, MaxConcurrent: 1, InFlight: 1, RatePerMinute: 1, RecentWrites: []time.Time{t0}}, schedule.SlotConcurrency, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now = t0
			got := schedule.Slot(tt.in)
			if got.Wait != tt.want {
				t.Fatalf("Slot = %+v, want %q", got, tt.want)
			}
			if !tt.retry.IsZero() && !got.RetryAt.Equal(tt.retry) {
				t.Fatalf("RetryAt %v, want %v", got.RetryAt, tt.retry)
			}
			if got.Go() != (tt.want == schedule.SlotGo) {
				t.Fatal("Go() disagrees with Wait")
			}
			if !got.Go() && got.Message("base", 2, 2) == "" {
				t.Fatal("a wait without a message")
			}
		})
	}
}

// TestSlot_rateHoldsOverRestarts replays a manager that asks every second for 10 minutes with
// nothing but the durable write times: no 60-second window ever holds more than the limit.
func TestSlot_rateHoldsOverRestarts(t *testing.T) {
	const limit = 10
	var writes []time.Time
	for s := 0; s < 600; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		for { // a restarted manager grants as many as the decision allows in one pass
			if !schedule.Slot(schedule.SlotInput{Now: now, SnapshotLoaded: true, RatePerMinute: limit, RecentWrites: writes}).Go() {
				break
			}
			writes = append(writes, now)
		}
	}
	for i := range writes {
		n := 0
		for _, w := range writes[i:] {
			if w.Sub(writes[i]) < time.Minute {
				n++
			}
		}
		if n > limit {
			t.Fatalf("%d writes within a minute from %v, limit %d", n, writes[i], limit)
		}
	}
	if len(writes) != 100 {
		t.Fatalf("%d writes in 10 minutes, want 100 (the limit is also reached)", len(writes))
	}
}

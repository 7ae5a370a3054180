package schedule_test

import (
	"testing"
	"time"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
	"github.com/fleetlaps/fleetlaps/internal/schedule"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func TestExpiry(t *testing.T) {
	cases := map[string]struct {
		updated time.Time
		age     int32
		want    time.Time
	}{
		"should add 30 days of elapsed time":        {t0, 30, t0.Add(30 * 24 * time.Hour)},
		"should add one day":                        {t0, 1, t0.Add(24 * time.Hour)},
		"should know no expiry without update time": {time.Time{}, 30, time.Time{}},
		"should know no expiry without an age":      {t0, 0, time.Time{}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := schedule.Expiry(tc.updated, tc.age); !got.Equal(tc.want) {
				t.Errorf("Expiry = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExpirationProtectionBreach(t *testing.T) {
	cases := map[string]struct {
		updated, expiry time.Time
		age             int32
		want            bool
	}{
		"should not breach when the expiry is exactly update time plus age":  {t0, t0.Add(30 * 24 * time.Hour), 30, false},
		"should not breach when the expiry is earlier (forced rotation)":     {t0, t0.Add(time.Hour), 30, false},
		"should breach when the expiry is a day beyond update time plus age": {t0, t0.Add(31 * 24 * time.Hour), 30, true},
		"should tolerate sub-minute differences from second-precision update times": {
			t0, t0.Add(30*24*time.Hour + 30*time.Second), 30, false},
		"should breach after the policy lowered the age": {t0, t0.Add(30 * 24 * time.Hour), 7, true},
		"should not breach without an update time":       {time.Time{}, t0, 30, false},
		"should not breach without a directory expiry":   {t0, time.Time{}, 30, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := schedule.ExpirationProtectionBreach(tc.updated, tc.expiry, tc.age); got != tc.want {
				t.Errorf("breach = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	cases := map[string]struct {
		n    int32
		want time.Duration
	}{
		"should not wait without failures":               {0, -1},
		"should wait one minute after the first failure": {1, time.Minute},
		"should wait 2 minutes after 2 failures":         {2, 2 * time.Minute},
		"should wait 32 minutes after 6 failures":        {6, 32 * time.Minute},
		"should cap at one hour after 7 failures":        {7, time.Hour},
		"should stay at one hour after 1000 failures":    {1000, time.Hour},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := schedule.Backoff(tc.n, t0)
			if tc.want < 0 {
				if !got.IsZero() {
					t.Errorf("Backoff = %v, want zero", got)
				}
				return
			}
			if d := got.Sub(t0); d != tc.want {
				t.Errorf("Backoff wait = %v, want %v", d, tc.want)
			}
		})
	}
}

func TestNextAttention(t *testing.T) {
	cases := map[string]struct {
		candidates []time.Time
		want       time.Duration
	}{
		"should be zero with no candidates":               {nil, 0},
		"should ignore zero times":                        {[]time.Time{{}}, 0},
		"should ignore times in the past":                 {[]time.Time{t0.Add(-time.Hour), t0}, 0},
		"should pick the earliest future candidate":       {[]time.Time{t0.Add(3 * time.Hour), t0.Add(time.Hour), {}}, time.Hour},
		"should floor at one second":                      {[]time.Time{t0.Add(time.Millisecond)}, time.Second},
		"should cap at 12 hours so drift heals by itself": {[]time.Time{t0.Add(30 * 24 * time.Hour)}, 12 * time.Hour},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := schedule.NextAttention(t0, tc.candidates...); got != tc.want {
				t.Errorf("NextAttention = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzNextAttention(f *testing.F) {
	f.Add(int64(0), int64(3600), int64(-5), int32(30))
	f.Add(int64(1<<40), int64(0), int64(1), int32(1))
	f.Add(int64(-1<<40), int64(1<<50), int64(-1<<50), int32(365))
	f.Fuzz(func(t *testing.T, nowSec, aSec, bNano int64, age int32) {
		now := time.Unix(nowSec%(1<<36), 0)
		a := now.Add(time.Duration(aSec%(1<<33)) * time.Second)
		b := now.Add(time.Duration(bNano))
		c := schedule.Expiry(now, age)
		got := schedule.NextAttention(now, a, b, c, time.Time{})
		if got < 0 {
			t.Fatalf("negative requeue %v", got)
		}
		if got > schedule.MaxRequeue {
			t.Fatalf("requeue %v beyond the cap", got)
		}
		if age > 0 && got > time.Duration(age)*24*time.Hour {
			t.Fatalf("requeue %v beyond passwordAgeDays %d", got, age)
		}
		if got != 0 && got < schedule.MinRequeue {
			t.Fatalf("requeue %v below the floor (tight loop)", got)
		}
		anyFuture := a.After(now) || b.After(now) || (!c.IsZero() && c.After(now))
		if anyFuture != (got != 0) {
			t.Fatalf("future candidate %v but requeue %v", anyFuture, got)
		}
	})
}

var weekend = []lapsv1.DayOfWeek{"Saturday", "Sunday"}

func TestWindowAt(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(y int, m time.Month, d, hh, mm int, loc *time.Location) time.Time {
		return time.Date(y, m, d, hh, mm, 0, 0, loc)
	}
	w := func(days []lapsv1.DayOfWeek, start string, minutes int32, tz string) lapsv1.MaintenanceWindow {
		return lapsv1.MaintenanceWindow{Days: days, Start: start, DurationMinutes: minutes, TimeZone: tz}
	}
	// 2026-11-21 is a Saturday.
	cases := []struct {
		name               string
		windows            []lapsv1.MaintenanceWindow
		now                time.Time
		open               bool
		closesAt, nextOpen time.Time
	}{
		{name: "should be always open without windows", now: t0, open: true},
		{name: "should be open inside a Saturday 22:00 Berlin window",
			windows: []lapsv1.MaintenanceWindow{w(weekend, "22:00", 240, "Europe/Berlin")},
			now:     at(2026, 11, 21, 23, 0, berlin), open: true,
			closesAt: at(2026, 11, 22, 2, 0, berlin), nextOpen: at(2026, 11, 22, 22, 0, berlin)},
		{name: "should stay open after midnight in a window that crosses it",
			windows: []lapsv1.MaintenanceWindow{w([]lapsv1.DayOfWeek{"Saturday"}, "22:00", 240, "Europe/Berlin")},
			now:     at(2026, 11, 22, 1, 30, berlin), open: true,
			closesAt: at(2026, 11, 22, 2, 0, berlin), nextOpen: at(2026, 11, 28, 22, 0, berlin)},
		{name: "should be closed on a weekday and name the next opening",
			windows: []lapsv1.MaintenanceWindow{w(weekend, "22:00", 240, "Europe/Berlin")},
			now:     at(2026, 11, 18, 12, 0, berlin), open: false, nextOpen: at(2026, 11, 21, 22, 0, berlin)},
		{name: "should be closed at the exact end of a window",
			windows: []lapsv1.MaintenanceWindow{w([]lapsv1.DayOfWeek{"Saturday"}, "22:00", 60, "UTC")},
			now:     at(2026, 11, 21, 23, 0, time.UTC), open: false, nextOpen: at(2026, 11, 28, 22, 0, time.UTC)},
		{name: "should be open at the exact start of a window",
			windows: []lapsv1.MaintenanceWindow{w([]lapsv1.DayOfWeek{"Saturday"}, "22:00", 60, "")},
			now:     at(2026, 11, 21, 22, 0, time.UTC), open: true, closesAt: at(2026, 11, 21, 23, 0, time.UTC), nextOpen: at(2026, 11, 28, 22, 0, time.UTC)},
		{name: "should merge windows that touch",
			windows: []lapsv1.MaintenanceWindow{w([]lapsv1.DayOfWeek{"Monday"}, "01:00", 60, "UTC"), w([]lapsv1.DayOfWeek{"Monday"}, "02:00", 60, "UTC")},
			now:     at(2026, 11, 23, 1, 30, time.UTC), open: true, closesAt: at(2026, 11, 23, 3, 0, time.UTC), nextOpen: at(2026, 11, 30, 1, 0, time.UTC)},
		{name: "should run 6 elapsed hours across the autumn DST change (ends 03:00 CET, not 04:00)",
			// 2026-10-25 03:00 CEST -> 02:00 CET; a Saturday 22:00 CEST window of 360 min ends at
			// 02:00 UTC = 03:00 CET on the wall clock.
			windows: []lapsv1.MaintenanceWindow{w([]lapsv1.DayOfWeek{"Saturday"}, "22:00", 360, "Europe/Berlin")},
			now:     at(2026, 10, 25, 0, 30, berlin), open: true,
			closesAt: at(2026, 10, 25, 2, 0, time.UTC), nextOpen: at(2026, 10, 31, 22, 0, berlin)},
		{name: "should open after the spring-forward gap when the start does not exist",
			// 2026-03-29 02:00 CET -> 03:00 CEST; 02:30 does not exist that Sunday.
			windows: []lapsv1.MaintenanceWindow{w([]lapsv1.DayOfWeek{"Sunday"}, "02:30", 60, "Europe/Berlin")},
			now:     at(2026, 3, 29, 1, 0, berlin), open: false, nextOpen: at(2026, 3, 29, 3, 30, berlin)},
		{name: "should use the window's time zone, not the caller's",
			windows: []lapsv1.MaintenanceWindow{w([]lapsv1.DayOfWeek{"Monday"}, "09:00", 60, "America/New_York")},
			now:     at(2026, 11, 23, 14, 30, time.UTC), open: true,
			closesAt: at(2026, 11, 23, 15, 0, time.UTC), nextOpen: at(2026, 11, 30, 14, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			open, closes, next, err := schedule.WindowAt(tc.windows, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if open != tc.open || !closes.Equal(tc.closesAt) || !next.Equal(tc.nextOpen) {
				t.Errorf("WindowAt = open %v closes %v next %v, want %v %v %v", open, closes, next, tc.open, tc.closesAt, tc.nextOpen)
			}
		})
	}
	for name, bad := range map[string]lapsv1.MaintenanceWindow{
		"should refuse an unknown zone":  w(weekend, "22:00", 60, "Mars/Olympus"),
		"should refuse a start of 24:00": w(weekend, "24:00", 60, "UTC"),
		"should refuse an unknown day":   w([]lapsv1.DayOfWeek{"Funday"}, "22:00", 60, "UTC"),
		"should refuse a zero duration":  w(weekend, "22:00", 0, "UTC"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := schedule.WindowAt([]lapsv1.MaintenanceWindow{bad}, t0); err == nil {
				t.Error("no error")
			}
		})
	}
}

func FuzzWindowAt(f *testing.F) {
	f.Add(int64(1795000000), uint8(5), uint8(22), uint8(0), int32(240), uint8(0))
	f.Add(int64(1774742400), uint8(6), uint8(2), uint8(30), int32(60), uint8(1))
	f.Add(int64(1761350400), uint8(0), uint8(23), uint8(59), int32(1440), uint8(2))
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"}
	days := []lapsv1.DayOfWeek{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
	f.Fuzz(func(t *testing.T, nowSec int64, day, hh, mm uint8, minutes int32, zone uint8) {
		now := time.Unix(nowSec%(1<<34), 0).UTC()
		minutes = 1 + (minutes%1440+1440)%1440
		win := lapsv1.MaintenanceWindow{
			Days:            []lapsv1.DayOfWeek{days[int(day)%7]},
			Start:           time.Date(2000, 1, 1, int(hh)%24, int(mm)%60, 0, 0, time.UTC).Format("15:04"),
			DurationMinutes: minutes,
			TimeZone:        zones[int(zone)%len(zones)],
		}
		open, closes, next, err := schedule.WindowAt([]lapsv1.MaintenanceWindow{win}, now)
		if err != nil {
			t.Fatal(err)
		}
		if next.IsZero() {
			t.Fatalf("weekly window %+v has no next opening after %v", win, now)
		}
		if !next.After(now) {
			t.Fatalf("next opening %v not after now %v", next, now)
		}
		if next.Sub(now) > 8*24*time.Hour {
			t.Fatalf("next opening %v more than 8 days after %v", next, now)
		}
		if open {
			if !closes.After(now) || closes.Sub(now) > time.Duration(minutes)*time.Minute {
				t.Fatalf("open window closes at %v, now %v, duration %d min", closes, now, minutes)
			}
			if !next.After(closes) && !next.Equal(closes) {
				t.Fatalf("next opening %v before close %v", next, closes)
			}
		} else if !closes.IsZero() {
			t.Fatalf("closed but closesAt %v", closes)
		}
		// Just before the next opening the window is closed; at it, open.
		if o, _, _, _ := schedule.WindowAt([]lapsv1.MaintenanceWindow{win}, next); !o {
			t.Fatalf("not open at its next opening %v", next)
		}
	})
}

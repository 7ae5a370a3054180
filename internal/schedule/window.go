package schedule

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

var startPattern = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)

var weekdays = map[lapsv1.DayOfWeek]time.Weekday{
	"Sunday": time.Sunday, "Monday": time.Monday, "Tuesday": time.Tuesday, "Wednesday": time.Wednesday,
	"Thursday": time.Thursday, "Friday": time.Friday, "Saturday": time.Saturday,
}

// horizon is how far ahead WindowAt looks: a weekly window opens within 7 days; two more days
// cover windows that started up to a day earlier and chains that run on.
const horizon = 9

type interval struct{ start, end time.Time }

// WindowAt says whether now is inside one of the maintenance windows and when that changes.
//
//   - No windows: always open; closesAt and nextOpen are zero.
//   - open: closesAt is when the open window ends (windows that overlap or touch are merged);
//     nextOpen is the next opening after that, or zero.
//   - closed: nextOpen is the next opening; closesAt is zero.
//
// A window starts on each of its days at Start, local time in its TimeZone (UTC when empty), and
// lasts DurationMinutes of elapsed time, so it may cross midnight (it belongs to the day it
// starts on) and a daylight-saving change makes it end an hour earlier or later on the wall
// clock. A start that falls in a spring-forward gap begins at the first instant after the gap
// (time.Date's normalisation). Times are looked at up to 9 days ahead: a window chain longer than
// that reports closesAt at the horizon. Invalid windows (unknown day, start, zone or duration)
// return an error naming the window.
func WindowAt(windows []lapsv1.MaintenanceWindow, now time.Time) (open bool, closesAt, nextOpen time.Time, err error) {
	if len(windows) == 0 {
		return true, time.Time{}, time.Time{}, nil
	}
	var ivs []interval
	for i, w := range windows {
		got, err := occurrences(w, now)
		if err != nil {
			return false, time.Time{}, time.Time{}, fmt.Errorf("maintenanceWindows[%d]: %w", i, err)
		}
		ivs = append(ivs, got...)
	}
	sort.Slice(ivs, func(a, b int) bool { return ivs[a].start.Before(ivs[b].start) })
	merged := ivs[:0:0]
	for _, iv := range ivs {
		if n := len(merged); n > 0 && !iv.start.After(merged[n-1].end) {
			if iv.end.After(merged[n-1].end) {
				merged[n-1].end = iv.end
			}
			continue
		}
		merged = append(merged, iv)
	}
	for i, iv := range merged {
		if !now.Before(iv.start) && now.Before(iv.end) {
			if i+1 < len(merged) {
				nextOpen = merged[i+1].start
			}
			return true, iv.end, nextOpen, nil
		}
		if iv.start.After(now) {
			return false, time.Time{}, iv.start, nil
		}
	}
	return false, time.Time{}, time.Time{}, nil
}

// occurrences lists the window's intervals that start from two days before now up to the
// horizon.
func occurrences(w lapsv1.MaintenanceWindow, now time.Time) ([]interval, error) {
	m := startPattern.FindStringSubmatch(w.Start)
	if m == nil {
		return nil, fmt.Errorf("start %q must be HH:MM, 00:00..23:59", w.Start)
	}
	hh, _ := strconv.Atoi(m[1])
	mm, _ := strconv.Atoi(m[2])
	if w.DurationMinutes < 1 || w.DurationMinutes > 1440 {
		return nil, fmt.Errorf("durationMinutes %d must be between 1 and 1440", w.DurationMinutes)
	}
	if len(w.Days) == 0 {
		return nil, fmt.Errorf("days must name at least one day")
	}
	days := map[time.Weekday]bool{}
	for _, d := range w.Days {
		wd, ok := weekdays[d]
		if !ok {
			return nil, fmt.Errorf("day %q must be one of Monday..Sunday", d)
		}
		days[wd] = true
	}
	tz := w.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("timeZone %q: %v", tz, err)
	}
	local := now.In(loc)
	y, mo, d := local.Date()
	length := time.Duration(w.DurationMinutes) * time.Minute
	var out []interval
	for off := -2; off <= horizon; off++ {
		start := time.Date(y, mo, d+off, hh, mm, 0, 0, loc)
		if !days[start.Weekday()] {
			continue
		}
		out = append(out, interval{start, start.Add(length)})
	}
	return out, nil
}

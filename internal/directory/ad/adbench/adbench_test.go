package adbench

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fleetlaps/fleetlaps/internal/directory/ad/adtest"
)

// fleet is small enough for make test (a cached start takes about a second) and not a multiple
// of 1000, so page sizes 1000 and 500 give a short last page and an exactly full one.
const fleet = 1500

// TestMeasure_roundTripsAtTheAnchor runs the measurement against a real Samba DC and checks the
// structural facts: a full pass takes exactly the anchor's paged requests (including the empty
// page after an exactly full last one), the incremental pass returns exactly the changed
// computers in floor(changes/page)+1 requests, and no password attribute is requested.
func TestMeasure_roundTripsAtTheAnchor(t *testing.T) {
	s, err := StartDC(fleet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	for _, tc := range []struct {
		page, changes, fullTrips, incTrips int
	}{
		{page: 1000, changes: 100, fullTrips: 2, incTrips: 1}, // 1000 + 500
		{page: 500, changes: 500, fullTrips: 4, incTrips: 2},  // 3 x 500, then Samba's empty page
	} {
		r, err := Measure(context.Background(), Options{Server: s, Computers: fleet, PageSize: tc.page, Repeats: 1, Changes: tc.changes})
		if err != nil {
			t.Fatalf("page %d: %v", tc.page, err)
		}
		b, _ := json.Marshal(r)
		t.Logf("page %d: %s", tc.page, b)
		if r.FullRoundTripAnchor != tc.fullTrips || r.FullRoundTrips != tc.fullTrips {
			t.Errorf("page %d: full pass took %d paged requests (anchor %d), want %d", tc.page, r.FullRoundTrips, r.FullRoundTripAnchor, tc.fullTrips)
		}
		if r.FullEntries != fleet || r.BareEntries != fleet {
			t.Errorf("page %d: full pass saw %d computers, bare search %d, want %d", tc.page, r.FullEntries, r.BareEntries, fleet)
		}
		if r.IncrementalFull || r.IncrementalRoundTrips != tc.incTrips || r.IncrementalRoundTripAnchor != tc.incTrips {
			t.Errorf("page %d: incremental pass full=%t with %d paged requests (anchor %d), want an incremental pass with %d",
				tc.page, r.IncrementalFull, r.IncrementalRoundTrips, r.IncrementalRoundTripAnchor, tc.incTrips)
		}
		if r.IncrementalEntries != tc.changes || r.IncrementalChanged != tc.changes {
			t.Errorf("page %d: incremental pass returned %d entries, %d changed, want exactly the %d changed computers",
				tc.page, r.IncrementalEntries, r.IncrementalChanged, tc.changes)
		}
		if r.FullSeconds <= 0 || r.BareSeconds <= 0 || r.FullOverBare <= 0 || r.IncrementalSeconds <= 0 {
			t.Errorf("page %d: missing timings: %+v", tc.page, r)
		}
		if r.SambaRSSBytes <= 0 || r.SambaPeakRSSBytes < r.SambaRSSBytes || r.HeapInUseBytes == 0 {
			t.Errorf("page %d: memory figures samba rss %d peak %d heap %d", tc.page, r.SambaRSSBytes, r.SambaPeakRSSBytes, r.HeapInUseBytes)
		}
		for _, a := range r.Attributes {
			if isPasswordAttribute(a) {
				t.Errorf("the searches request %q, a password attribute", a)
			}
		}
	}
}

// isPasswordAttribute: the attributes that hold a LAPS password or its history (the two
// expiration times do not), and wildcards that would return them.
func isPasswordAttribute(a string) bool {
	a = strings.ToLower(a)
	switch {
	case a == "mslaps-password", a == "ms-mcs-admpwd", strings.HasPrefix(a, "mslaps-encrypted"):
		return true
	}
	return strings.ContainsAny(a, "*+")
}

func TestMeasure_refusesBadOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{Server: &adtest.Server{}, Computers: 0},
		{Server: &adtest.Server{}, Computers: 10, Changes: 11},
		{Server: &adtest.Server{}, Computers: 10, PageSize: -1},
	} {
		if _, err := Measure(context.Background(), o); err == nil {
			t.Errorf("Measure(%+v) = nil error", o)
		}
	}
}

func TestRoundTripAnchor(t *testing.T) {
	for _, tc := range []struct{ n, page, want int }{
		{0, 1000, 1}, {1, 1000, 1}, {999, 1000, 1}, {1000, 1000, 2}, {1001, 1000, 2}, {100000, 1000, 101}, {100, 1000, 1},
	} {
		if got := RoundTripAnchor(tc.n, tc.page); got != tc.want {
			t.Errorf("RoundTripAnchor(%d, %d) = %d, want %d", tc.n, tc.page, got, tc.want)
		}
	}
}

package report

import (
	"reflect"
	"testing"
	"time"
)

func TestNewestPerID(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	in := []Event{
		{ID: 10018, Time: at(1)}, {ID: 10017, Time: at(2), ResultCode: 5}, {ID: 10018, Time: at(3)},
		{ID: 10017, Time: at(0), ResultCode: 1}, {ID: 10005, Time: at(2)}, {ID: 10018, Time: at(2)},
	}
	got := NewestPerID(in)
	want := []Event{{ID: 10018, Time: at(3)}, {ID: 10017, Time: at(2), ResultCode: 5}, {ID: 10005, Time: at(2)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if in[0].ID != 10018 || !in[0].Time.Equal(at(1)) {
		t.Fatal("the input was modified")
	}
	if NewestPerID(nil) != nil {
		t.Fatal("nil in, non-nil out")
	}
}

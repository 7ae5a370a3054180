package principalcache

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	lookups := 0
	var fail error
	resolve := func(_ context.Context, name string) (string, error) {
		lookups++
		if fail != nil {
			return "", fail
		}
		return "S-1-5-21-1-2-3-" + name, nil
	}
	ctx := context.Background()
	c := New(15 * time.Minute)
	for i := range 6 {
		sid, err := c.Resolve(ctx, "corp", "512", t0.Add(time.Duration(i)*time.Minute), resolve)
		if err != nil || sid != "S-1-5-21-1-2-3-512" {
			t.Fatalf("resolve %d: %q %v", i, sid, err)
		}
	}
	if lookups != 1 {
		t.Fatalf("6 resolutions within the TTL made %d lookups, want 1", lookups)
	}
	if _, _ = c.Resolve(ctx, "branch", "512", t0, resolve); lookups != 2 {
		t.Fatalf("another connection shares the entry: %d lookups", lookups)
	}
	if _, _ = c.Resolve(ctx, "corp", "512", t0.Add(15*time.Minute), resolve); lookups != 3 {
		t.Fatalf("an expired entry was used: %d lookups", lookups)
	}
	c.Forget("corp", "512")
	if _, _ = c.Resolve(ctx, "corp", "512", t0.Add(16*time.Minute), resolve); lookups != 4 {
		t.Fatalf("a forgotten entry was used: %d lookups", lookups)
	}
	fail = errors.New("not found")
	c.Forget("corp", "513")
	for range 2 {
		if _, err := c.Resolve(ctx, "corp", "513", t0, resolve); err == nil {
			t.Fatal("error not returned")
		}
	}
	if lookups != 6 {
		t.Fatalf("failures must not be cached: %d lookups, want 6", lookups)
	}
	off := New(0)
	_, _ = off.Resolve(ctx, "corp", "512", t0, resolve)
	_, _ = off.Resolve(ctx, "corp", "512", t0, resolve)
	if lookups != 8 {
		t.Fatalf("TTL 0 must not cache: %d lookups", lookups)
	}
}

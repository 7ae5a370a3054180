package main

import (
	"flag"
	"testing"
	"time"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

func TestParseFlags(t *testing.T) {
	f, _, err := ParseFlags(flag.NewFlagSet("m", flag.ContinueOnError), []string{
		"--directories=/d.yaml", "--sync-interval=2m", "--shard-selector=shard=a", "--leader-elect", "--heartbeat-interval=5m",
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.Directories != "/d.yaml" || f.SyncInterval != 2*time.Minute || !f.LeaderElect || f.HeartbeatInterval != 5*time.Minute {
		t.Fatalf("flags %+v", f)
	}
	if leaderElectionID(f) == leaderElectionID(Flags{}) {
		t.Fatal("shards must elect separately")
	}
	opts, err := cacheOptions(f.ShardSelector)
	if err != nil || len(opts.ByObject) != 2 {
		t.Fatalf("cache options %+v %v", opts, err)
	}
	for o, b := range opts.ByObject {
		if _, ok := o.(*lapsv1.ManagedDevice); ok && b.Label.String() != "shard=a" {
			t.Fatalf("selector %v", b.Label)
		}
	}
	if _, err := cacheOptions("a b c"); err == nil {
		t.Fatal("bad selector accepted")
	}
	if _, _, err := ParseFlags(flag.NewFlagSet("m", flag.ContinueOnError), []string{"--sync-interval=1s"}); err == nil {
		t.Fatal("tiny sync interval accepted")
	}
}

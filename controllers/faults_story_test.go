package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// TestStory_twoManagersOneRequest runs two managers of the same shard at once (leader election
// off) against the real apiserver: both reconcile the request, and every device still gets
// exactly one directory write (the claim's resourceVersion precondition refuses the other).
func TestStory_twoManagersOneRequest(t *testing.T) {
	const ns, devices = "story-twins", 8
	createNamespace(t, ns)
	shard := map[string]string{shardLabel: "twins"}
	mustCreate(t, in(newPolicy("base", lapsv1.PolicyRootCSP, 0, nil), ns))
	for i := range devices {
		suiteDir.Put(newRecord(fmt.Sprintf("tw%d", i), 701+i, suiteClock.Now().Add(-24*time.Hour)))
		mustCreate(t, in(newDevice(fmt.Sprintf("tw%d", i), 701+i, shard), ns))
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var done []chan error
	for range 2 {
		var writes atomicInt
		mgr, comps, err := newManager(ctx, "shard=twins", suiteDir, &writes.Int64, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan error, 1)
		go func() { ch <- mgr.Start(ctx) }()
		done = append(done, ch)
		mgr.GetCache().WaitForCacheSync(ctx)
		comps.Syncers[0].SyncOnce(ctx)
	}
	rr := in(newRequest("rot", "", shard), ns)
	rr.Labels = shard
	mustCreate(t, rr)
	eventually(t, wait, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(rr), rr); err != nil {
			return err
		}
		if len(rr.Status.Results) != devices {
			return fmt.Errorf("%d results", len(rr.Status.Results))
		}
		for _, res := range rr.Status.Results {
			if res.WrittenAt == nil {
				return fmt.Errorf("%s not written yet", res.Device)
			}
		}
		return nil
	})
	for i := range devices {
		if n := len(callsFor(guidOf(701 + i))); n != 1 {
			t.Errorf("device tw%d: %d directory writes, want 1", i, n)
		}
	}
	stop()
	for _, ch := range done {
		<-ch
	}
}

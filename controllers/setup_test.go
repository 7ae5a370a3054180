package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestScaleRequeue(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		in   reconcile.Result
		err  error
		want time.Duration
	}{
		{"scaled", reconcile.Result{RequeueAfter: time.Hour}, nil, time.Hour / 1000},
		{"floor", reconcile.Result{RequeueAfter: time.Second}, nil, MinScaledRequeue},
		{"no requeue", reconcile.Result{}, nil, 0},
		{"error passes through", reconcile.Result{RequeueAfter: 10 * time.Hour}, boom, 10 * time.Hour / 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) { return tc.in, tc.err })
			res, err := ScaleRequeue(inner, func(d time.Duration) time.Duration { return d / 1000 }).Reconcile(context.Background(), reconcile.Request{})
			if res.RequeueAfter != tc.want || !errors.Is(err, tc.err) {
				t.Fatalf("got %v, %v; want %v, %v", res.RequeueAfter, err, tc.want, tc.err)
			}
		})
	}
	inner := reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) {
		return reconcile.Result{RequeueAfter: time.Minute}, nil
	})
	if res, _ := ScaleRequeue(inner, nil).Reconcile(context.Background(), reconcile.Request{}); res.RequeueAfter != time.Minute {
		t.Fatalf("nil scale changed the result: %v", res.RequeueAfter)
	}
}

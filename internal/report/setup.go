package report

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Options configure the report API of a manager.
type Options struct {
	// Addr is the HTTPS listen address, e.g. ":9444".
	Addr string
	// CertDir holds tls.crt and tls.key.
	CertDir string
	// ManagerNamespace holds the token Secrets.
	ManagerNamespace string
	Clock            clock.PassiveClock
	Heartbeat        time.Duration
	MaxSkew          time.Duration
	RatePerMinute    float64
	Burst            int
}

// Setup adds the report API to the manager: a cache of the token Secrets of the manager's
// namespace (only those labelled LabelTokens: the manager reads no other Secret) and the HTTPS
// listener. The returned Listener's Server counts what it did.
func Setup(mgr ctrl.Manager, o Options) (*Listener, error) {
	if o.ManagerNamespace == "" {
		return nil, fmt.Errorf("report API: the manager's namespace is not known (set --report-token-namespace or POD_NAMESPACE)")
	}
	tokens, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme:            mgr.GetScheme(),
		DefaultNamespaces: map[string]cache.Config{o.ManagerNamespace: {}},
		// The server reads the hashes in data, never who wrote them.
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{LabelTokens: "true"})},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("report API token cache: %w", err)
	}
	if err := mgr.Add(tokens); err != nil {
		return nil, err
	}
	// Start the Secret informer now, so the cache has synced before the first report.
	if _, err := tokens.GetInformer(context.Background(), &corev1.Secret{}); err != nil {
		return nil, err
	}
	l := &Listener{Addr: o.Addr, CertDir: o.CertDir, Ready: make(chan struct{}), Synced: tokens.WaitForCacheSync, Server: &Server{
		Client: mgr.GetClient(), Tokens: tokens, ManagerNamespace: o.ManagerNamespace, Clock: o.Clock,
		Heartbeat: o.Heartbeat, MaxSkew: o.MaxSkew, RatePerMinute: o.RatePerMinute, Burst: o.Burst,
		Log: mgr.GetLogger().WithName("report"),
	}}
	if err := mgr.Add(l); err != nil {
		return nil, err
	}
	return l, nil
}

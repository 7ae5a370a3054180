package report

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// Listener serves a Server over HTTPS on its own address, apart from metrics, health and the
// webhook. The certificate is read from CertDir (tls.crt, tls.key, as a kubernetes.io/tls
// Secret mounts them) and re-read when the files change. It is a manager Runnable that runs on
// the leader only: the leader's cache and gate hold each device's sequence and heartbeat.
type Listener struct {
	Addr    string
	CertDir string
	Server  *Server
	// Synced, when set, is waited for before serving (the token cache).
	Synced func(context.Context) bool
	// Ready is closed once the listener accepts connections (may be nil).
	Ready chan struct{}
	// bound is the address actually listened on (Addr may say port 0).
	bound net.Addr
}

// NeedLeaderElection keeps the report API on the leader.
func (l *Listener) NeedLeaderElection() bool { return true }

// BoundAddr returns the address listened on, once Ready is closed.
func (l *Listener) BoundAddr() net.Addr { return l.bound }

// Start serves until ctx ends.
func (l *Listener) Start(ctx context.Context) error {
	if l.Synced != nil && !l.Synced(ctx) {
		return fmt.Errorf("report API: the token cache did not sync")
	}
	cw, err := certwatcher.New(filepath.Join(l.CertDir, "tls.crt"), filepath.Join(l.CertDir, "tls.key"))
	if err != nil {
		return fmt.Errorf("report API certificate: %w", err)
	}
	go func() { _ = cw.Start(ctx) }()
	ln, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return fmt.Errorf("report API listener: %w", err)
	}
	l.bound = ln.Addr()
	l.Server.Init()
	srv := &http.Server{
		Handler:           http.MaxBytesHandler(l.Server, MaxBodyBytes+1),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    16 << 10,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: cw.GetCertificate,
			// HTTP/2 stays off, as on the metrics server (CVE-2023-44487, CVE-2023-39325).
			NextProtos: []string{"http/1.1"},
		},
	}
	if l.Ready != nil {
		close(l.Ready)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

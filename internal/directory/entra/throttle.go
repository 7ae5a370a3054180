package entra

import (
	"io"
	"net/http"
	"strconv"
	"time"

	nethttplibrary "github.com/microsoft/kiota-http-go"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// ThrottledRetries counts the requests retried after Graph answered 429, 503 or 504.
var ThrottledRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "fleetlaps_graph_throttled_retries_total",
	Help: "Microsoft Graph requests retried after 429/503/504, honouring Retry-After.",
}, []string{"directory", "status"})

func init() { metrics.Registry.MustRegister(ThrottledRetries) }

// throttleRetry is the retry step of the HTTP pipeline. Unlike kiota's default retry handler it
// never waits longer than MaxRetryAfter (a longer Retry-After ends the call with the 429, so the
// sync pass gives up and tries at its next interval instead of holding a worker), counts every
// retry, and replays the request body from GetBody (or rewinds it), so a retried POST carries
// the same bytes.
type throttleRetry struct {
	directory string
	sleep     func(ctxDone <-chan struct{}, d time.Duration) bool
}

func (m throttleRetry) Intercept(p nethttplibrary.Pipeline, i int, req *http.Request) (*http.Response, error) {
	resp, err := p.Next(req, i)
	for attempt := 1; err == nil && attempt <= MaxRetries && retriable(resp.StatusCode); attempt++ {
		wait, ok := retryAfter(resp, attempt)
		if !ok || wait > MaxRetryAfter {
			return resp, nil
		}
		if req.GetBody != nil {
			body, berr := req.GetBody()
			if berr != nil {
				return resp, nil
			}
			req.Body = body
		} else if s, isSeeker := req.Body.(io.Seeker); isSeeker {
			if _, serr := s.Seek(0, io.SeekStart); serr != nil {
				return resp, nil
			}
		} else if req.Body != nil && req.Body != http.NoBody {
			return resp, nil // a body that cannot be replayed is not retried
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		ThrottledRetries.WithLabelValues(m.directory, strconv.Itoa(resp.StatusCode)).Inc()
		if !m.sleep(req.Context().Done(), wait) {
			return nil, req.Context().Err()
		}
		resp, err = p.Next(req, i)
	}
	return resp, err
}

func retriable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// retryAfter reads Retry-After (seconds or an HTTP date); without one it backs off 1, 2, 4 s.
func retryAfter(resp *http.Response, attempt int) (time.Duration, bool) {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return time.Duration(1<<(attempt-1)) * time.Second, true
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func sleepCtx(done <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return false
	case <-t.C:
		return true
	}
}

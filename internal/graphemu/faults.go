package graphemu

import (
	"net/http"
	"strconv"
	"time"
)

type faults struct {
	throttleNext    int
	retryAfter      time.Duration
	throttleEvery   int
	everyRetryAfter time.Duration
	served          int
	serverErrors    int
	serverStatus    int
}

// Throttle answers the next n Graph requests with 429 and Retry-After.
func (s *Server) Throttle(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.throttleNext, s.faults.retryAfter = n, retryAfter
}

// ThrottleEvery answers every k-th Graph request with one 429 first (the retry then succeeds);
// k <= 0 stops it.
func (s *Server) ThrottleEvery(k int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.throttleEvery, s.faults.everyRetryAfter, s.faults.served = k, retryAfter, 0
}

// ServerErrors answers the next n Graph requests with status (503 carries Retry-After: 1).
func (s *Server) ServerErrors(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.serverErrors, s.faults.serverStatus = n, status
}

func (s *Server) injectFault(w http.ResponseWriter) bool {
	s.mu.Lock()
	f := &s.faults
	var status int
	var retry time.Duration
	switch {
	case f.throttleNext > 0:
		f.throttleNext--
		status, retry = http.StatusTooManyRequests, f.retryAfter
	case f.serverErrors > 0:
		f.serverErrors--
		status, retry = f.serverStatus, time.Second
	case f.throttleEvery > 0:
		f.served++
		if f.served%(f.throttleEvery+1) == 0 {
			status, retry = http.StatusTooManyRequests, f.everyRetryAfter
		}
	}
	if status == http.StatusTooManyRequests {
		s.counts["throttled"]++
	} else if status != 0 {
		s.counts["serverError"]++
	}
	s.mu.Unlock()
	if status == 0 {
		return false
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int(retry.Round(time.Second)/time.Second)))
	}
	code := "TooManyRequests"
	if status != http.StatusTooManyRequests {
		code = "ServiceNotAvailable"
	}
	odataError(w, status, code, "The request has been throttled or the service is unavailable; retry later.")
	return true
}

package report

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client sends reports to the report API: the agent's side of the door.
type Client struct {
	// URL is the API's base, e.g. https://fleetlaps-report.fleetlaps-system.svc:9444.
	URL string
	// Token is the device's enrollment token. It is sent in the Authorization header only and
	// appears in no error.
	Token string
	HTTP  *http.Client
}

// NewClient returns a client that trusts only the CA certificates in caPEM.
func NewClient(url string, caPEM []byte, token string) (*Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("the CA file holds no PEM certificate")
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{URL: strings.TrimRight(url, "/"), Token: strings.TrimSpace(token), HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// Refused is an answer other than 200: the server's reason and message.
type Refused struct {
	Code    int
	Reason  string
	Message string
	// RetryAfter is the server's Retry-After (0 when absent).
	RetryAfter time.Duration
}

func (r *Refused) Error() string {
	return fmt.Sprintf("report refused: HTTP %d %s: %s", r.Code, r.Reason, r.Message)
}

// Send posts one report; a refusal is a *Refused error.
func (c *Client) Send(ctx context.Context, rep Report) (Response, error) {
	body, err := json.Marshal(rep)
	if err != nil {
		return Response{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+Path, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	var out Response
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Response{}, err
	}
	if err := json.Unmarshal(data, &out); err != nil {
		out = Response{Reason: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(truncateRunes(string(data), 200))}
	}
	if resp.StatusCode != http.StatusOK {
		ref := &Refused{Code: resp.StatusCode, Reason: out.Reason, Message: out.Message}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			ref.RetryAfter = time.Duration(s) * time.Second
		}
		return out, ref
	}
	return out, nil
}

// Sequencer hands out report sequences that grow across agent restarts without a state file:
// the agent clock's milliseconds, or one more than the last when the clock has not moved on.
type Sequencer struct{ last int64 }

// Next returns the sequence for a report built at now.
func (s *Sequencer) Next(now time.Time) int64 {
	s.last = max(s.last+1, now.UnixMilli())
	return s.last
}

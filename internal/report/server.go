package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// Path is where agents POST their reports.
const Path = "/v1/report"

// Defaults of the server's bounds.
const (
	DefaultHeartbeat     = 10 * time.Minute
	DefaultMaxSkew       = 5 * time.Minute
	DefaultRatePerMinute = 2
	DefaultBurst         = 5
)

// Rejection reasons: stable, CamelCase, in the response body and the metric.
const (
	ReasonAccepted         = "Accepted"
	ReasonMethodNotAllowed = "MethodNotAllowed"
	ReasonUnsupportedMedia = "UnsupportedMediaType"
	ReasonUnauthenticated  = "Unauthenticated"
	ReasonTokenNotEnrolled = "TokenNotEnrolled"
	ReasonWrongDevice      = "WrongDevice"
	ReasonRateLimited      = "RateLimited"
	ReasonTooLarge         = "BodyTooLarge"
	ReasonMalformed        = "Malformed"
	ReasonInvalid          = "Invalid"
	ReasonClockSkew        = "ClockSkew"
	ReasonReplay           = "Replay"
	ReasonDeviceNotFound   = "DeviceNotFound"
	ReasonServerError      = "ServerError"
	ReasonServerNotReady   = "ServerNotReady"
	ReasonPathNotFound     = "NotFound"
)

// Server is the report API's handler. It reads ManagedDevices through Client (the manager's
// cache) and writes nothing but status.agent, and that only for an accepted report that changed
// something or whose heartbeat is due.
type Server struct {
	// Client reads ManagedDevices and patches their status.
	Client client.Client
	// Tokens reads the token Secrets of ManagerNamespace (a cache of the labelled Secrets).
	Tokens           client.Reader
	ManagerNamespace string
	Clock            clock.PassiveClock
	// Heartbeat: with nothing else changed, status.agent.lastReportTime moves at most once per
	// Heartbeat.
	Heartbeat time.Duration
	// MaxSkew bounds |agentTime - server time|.
	MaxSkew time.Duration
	// RatePerMinute and Burst bound each device's reports.
	RatePerMinute float64
	Burst         int
	Log           logr.Logger

	gate     *gate
	accepted atomic.Int64
	rejected atomic.Int64
	writes   atomic.Int64
}

// Stats counts what the server did since it started.
type Stats struct {
	Accepted, Rejected, StatusWrites int64
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), Rejected: s.rejected.Load(), StatusWrites: s.writes.Load()}
}

// Init fills defaults; call it before serving.
func (s *Server) Init() {
	if s.Clock == nil {
		s.Clock = clock.RealClock{}
	}
	if s.Heartbeat <= 0 {
		s.Heartbeat = DefaultHeartbeat
	}
	if s.MaxSkew <= 0 {
		s.MaxSkew = DefaultMaxSkew
	}
	if s.RatePerMinute <= 0 {
		s.RatePerMinute = DefaultRatePerMinute
	}
	if s.Burst <= 0 {
		s.Burst = DefaultBurst
	}
	if s.Log.GetSink() == nil {
		s.Log = logr.Discard()
	}
	s.gate = newGate(s.RatePerMinute, s.Burst)
}

// Response is the body of every answer.
type Response struct {
	// Reason is Accepted or why the report was refused.
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
	// Written says whether the report changed status (false for a heartbeat inside the interval).
	Written bool `json:"written,omitempty"`
	// HeartbeatSeconds is the interval at which the agent should report when nothing changes.
	HeartbeatSeconds int64 `json:"heartbeatSeconds,omitempty"`
}

// refusal is a 4xx or 5xx answer.
type refusal struct {
	code       int
	reason     string
	msg        string
	retryAfter time.Duration
}

func (r *refusal) Error() string { return r.reason + ": " + r.msg }

func refuse(code int, reason, format string, args ...any) *refusal {
	return &refusal{code: code, reason: reason, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	written, dev, ref := s.handle(req)
	if ref != nil {
		s.rejected.Add(1)
		reportsTotal.WithLabelValues(ref.reason).Inc()
		if ref.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(ref.retryAfter.Seconds())), 10))
		}
		// The message names fields and limits, never a token; it goes to the agent, the log
		// keeps only the reason.
		s.Log.V(1).Info("report refused", "device", dev.String(), "reason", ref.reason, "code", ref.code)
		writeJSON(w, ref.code, Response{Reason: ref.reason, Message: ref.msg})
		return
	}
	s.accepted.Add(1)
	reportsTotal.WithLabelValues(ReasonAccepted).Inc()
	reportLatency.Observe(time.Since(start).Seconds())
	writeJSON(w, http.StatusOK, Response{Reason: ReasonAccepted, Written: written, HeartbeatSeconds: int64(s.Heartbeat / time.Second)})
}

func writeJSON(w http.ResponseWriter, code int, body Response) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// handle runs the checks in order; each refusal happens before anything is written. The
// device's lock is held from the replay check to the write, so two reports of one device
// cannot both pass with the same sequence.
func (s *Server) handle(req *http.Request) (bool, DeviceRef, *refusal) {
	if s.gate == nil {
		return false, DeviceRef{}, refuse(http.StatusServiceUnavailable, ReasonServerNotReady, "the report server is starting")
	}
	if req.URL.Path != Path {
		return false, DeviceRef{}, refuse(http.StatusNotFound, ReasonPathNotFound, "reports go to POST %s", Path)
	}
	if req.Method != http.MethodPost {
		return false, DeviceRef{}, refuse(http.StatusMethodNotAllowed, ReasonMethodNotAllowed, "%s: reports are sent with POST", req.Method)
	}
	if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return false, DeviceRef{}, refuse(http.StatusUnsupportedMediaType, ReasonUnsupportedMedia, "Content-Type %q: application/json is required", truncateRunes(ct, 64))
	}
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return false, DeviceRef{}, refuse(http.StatusUnauthorized, ReasonUnauthenticated, "an Authorization: Bearer header with the device's enrollment token is required")
	}
	dev, err := ParseToken(tok)
	if err != nil {
		return false, DeviceRef{}, refuse(http.StatusUnauthorized, ReasonUnauthenticated, "%s", err.Error())
	}
	if ref := s.verifyToken(req.Context(), dev, tok); ref != nil {
		return false, dev, ref
	}
	dg := s.gate.device(dev)
	dg.lock.Lock()
	defer dg.lock.Unlock()
	now := s.Clock.Now()
	if ok, wait := dg.allow(now); !ok {
		ref := refuse(http.StatusTooManyRequests, ReasonRateLimited, "more than %g reports per minute (burst %d) from %s", s.RatePerMinute, s.Burst, dev)
		ref.retryAfter = wait
		return false, dev, ref
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxBodyBytes+1))
	if err != nil {
		return false, dev, refuse(http.StatusBadRequest, ReasonMalformed, "reading the body: %s", err.Error())
	}
	rep, err := DecodeBytes(body)
	if ref := decodeRefusal(err); ref != nil {
		return false, dev, ref
	}
	if rep.Device != dev {
		return false, dev, refuse(http.StatusForbidden, ReasonWrongDevice, "the token speaks for %s, the report for %s", dev, rep.Device)
	}
	if skew := rep.AgentTime.Sub(now); skew > s.MaxSkew || -skew > s.MaxSkew {
		return false, dev, refuse(http.StatusBadRequest, ReasonClockSkew, "agentTime %s is %s from the server's time %s; at most %s is allowed: check the device's clock",
			rep.AgentTime.UTC().Format(time.RFC3339), skew.Round(time.Second).Abs(), now.UTC().Format(time.RFC3339), s.MaxSkew)
	}
	var md lapsv1.ManagedDevice
	if err := s.Client.Get(req.Context(), types.NamespacedName{Namespace: dev.Namespace, Name: dev.Name}, &md); err != nil {
		if apierrors.IsNotFound(err) {
			return false, dev, refuse(http.StatusNotFound, ReasonDeviceNotFound, "ManagedDevice %s does not exist", dev)
		}
		return false, dev, refuse(http.StatusServiceUnavailable, ReasonServerError, "reading ManagedDevice %s failed; retry later", dev)
	}
	lastSeq := dg.lastSeq
	if a := md.Status.Agent; a != nil && a.LastSequence > lastSeq {
		lastSeq = a.LastSequence
	}
	if rep.Sequence <= lastSeq {
		return false, dev, refuse(http.StatusConflict, ReasonReplay, "sequence %d is not newer than %d, the last accepted from %s", rep.Sequence, lastSeq, dev)
	}
	next := AgentStatus(rep, now)
	last := dg.last
	if cluster := writtenOf(md.Status.Agent); last == nil || (cluster != nil && cluster.reportTime.After(last.reportTime)) {
		last = cluster
	}
	write, why := writeDecision(last, next, now, s.Heartbeat)
	if write {
		before := md.DeepCopy()
		md.Status.Agent = &next
		if err := s.Client.Status().Patch(req.Context(), &md, client.MergeFrom(before)); err != nil {
			s.Log.Error(err, "writing status.agent", "device", dev.String())
			return false, dev, refuse(http.StatusServiceUnavailable, ReasonServerError, "writing the status of %s failed; retry later", dev)
		}
		s.writes.Add(1)
		statusWrites.WithLabelValues(why).Inc()
		dg.last = &written{content: contentHash(next), reportTime: next.LastReportTime.Time}
	}
	dg.lastSeq = rep.Sequence
	return write, dev, nil
}

// verifyToken compares the token with the stored hash of the device it names.
func (s *Server) verifyToken(ctx context.Context, dev DeviceRef, tok string) *refusal {
	var sec corev1.Secret
	err := s.Tokens.Get(ctx, types.NamespacedName{Namespace: s.ManagerNamespace, Name: TokenSecretName(dev)}, &sec)
	if err != nil && !apierrors.IsNotFound(err) {
		return refuse(http.StatusServiceUnavailable, ReasonServerError, "reading the enrollment tokens failed; retry later")
	}
	if err != nil || !TokenMatches(tok, sec.Data[dev.Name]) {
		return refuse(http.StatusUnauthorized, ReasonTokenNotEnrolled, "the token is not enrolled for %s (never enrolled, rotated or revoked): run kubectl laps enroll", dev)
	}
	return nil
}

func decodeRefusal(err error) *refusal {
	if err == nil {
		return nil
	}
	var br *BadReport
	switch {
	case errors.Is(err, ErrTooLarge):
		return refuse(http.StatusRequestEntityTooLarge, ReasonTooLarge, "%s", err.Error())
	case errors.As(err, &br) && br.Field != "":
		return refuse(http.StatusUnprocessableEntity, ReasonInvalid, "%s", err.Error())
	}
	return refuse(http.StatusBadRequest, ReasonMalformed, "%s", err.Error())
}

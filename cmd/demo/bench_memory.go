package main

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/fleetlaps/fleetlaps/internal/footprint"
	"sync"
	"time"
)

// memorySampler follows the machine's memory in use and the resident size of the control
// plane's processes (this process's children: kube-apiserver and etcd) through a run.
type memorySampler struct {
	mu   sync.Mutex
	base int64
	peak int64
	pids footprint.ControlPlanePIDs
}

func startMemorySampler(ctx context.Context) *memorySampler {
	s := &memorySampler{base: machineMemoryInUse()}
	s.peak = s.base
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *memorySampler) sample() {
	used := machineMemoryInUse()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peak = max(s.peak, used)
}

// watchControlPlane follows the kube-apiserver and etcd of the control plane whose etcd
// listens on etcdURL.
func (s *memorySampler) watchControlPlane(etcdURL string) {
	pids, _ := footprint.FindControlPlane(etcdURL)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pids = pids
}

// fill records the figures into m: current and peak RSS of the control plane, the machine's
// peak.
func (s *memorySampler) fill(m *memoryFigures) {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	m.MachineBaseBytes, m.MachinePeakBytes = s.base, s.peak
	// VmHWM is each process's own peak.
	if p, err := footprint.ReadProcessMemory(s.pids.APIServer); err == nil {
		m.APIServerRSSBytes, m.APIServerPeakBytes = p.RSS, p.PeakRSS
	}
	if p, err := footprint.ReadProcessMemory(s.pids.Etcd); err == nil {
		m.EtcdRSSBytes, m.EtcdPeakBytes = p.RSS, p.PeakRSS
	}
	if p, err := footprint.ReadProcessMemory(os.Getpid()); err == nil {
		m.ProcessRSSBytes, m.ProcessPeakBytes = p.RSS, p.PeakRSS
	}
}

// machineMemoryInUse is MemTotal - MemAvailable (Linux), 0 when unknown.
func machineMemoryInUse() int64 {
	f := procStatusFields("/proc/meminfo", "MemTotal:", "MemAvailable:")
	return f["MemTotal:"] - f["MemAvailable:"]
}

// procStatusFields reads "Name: value kB" lines of a /proc file, in bytes.
func procStatusFields(path string, names ...string) map[string]int64 {
	out := map[string]int64{}
	data, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && slices.Contains(names, f[0]) {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			out[f[0]] = kb * 1024
		}
	}
	return out
}

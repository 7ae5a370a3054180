package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memorySampler follows the machine's memory in use and the resident size of the control
// plane's processes (this process's children: kube-apiserver and etcd) through a run.
type memorySampler struct {
	mu        sync.Mutex
	base      int64
	peak      int64
	children  map[string]int // command name -> pid
	childPeak map[string]int64
}

func startMemorySampler(ctx context.Context) *memorySampler {
	s := &memorySampler{base: machineMemoryInUse(), children: map[string]int{}, childPeak: map[string]int64{}}
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
	for name, pid := range s.children {
		s.childPeak[name] = max(s.childPeak[name], processRSS(pid))
	}
}

// watchChildren finds kube-apiserver and etcd among this process's children.
func (s *memorySampler) watchChildren() {
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	self := os.Getpid()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		line := string(data)
		open, close := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
		if open < 0 || close < open {
			continue
		}
		fields := strings.Fields(line[close+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		pid, _ := strconv.Atoi(strings.TrimSpace(line[:open]))
		if comm := line[open+1 : close]; ppid == self && (comm == "kube-apiserver" || comm == "etcd") {
			s.children[comm] = pid
		}
	}
}

// fill records the figures into m: current and peak RSS of the control plane, the machine's
// peak.
func (s *memorySampler) fill(m *memoryFigures) {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	m.MachineBaseBytes, m.MachinePeakBytes = s.base, s.peak
	m.APIServerRSSBytes, m.APIServerPeakBytes = processRSS(s.children["kube-apiserver"]), s.childPeak["kube-apiserver"]
	m.EtcdRSSBytes, m.EtcdPeakBytes = processRSS(s.children["etcd"]), s.childPeak["etcd"]
}

// machineMemoryInUse is MemTotal - MemAvailable (Linux), 0 when unknown.
func machineMemoryInUse() int64 {
	f := procStatusFields("/proc/meminfo", "MemTotal:", "MemAvailable:")
	return f["MemTotal:"] - f["MemAvailable:"]
}

// processRSS is a process's resident set size (Linux), 0 when unknown.
func processRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	return procStatusFields("/proc/"+strconv.Itoa(pid)+"/status", "VmRSS:")["VmRSS:"]
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

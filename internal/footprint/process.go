package footprint

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcessMemory is one process's resident memory as the kernel reports it in /proc/PID/status.
type ProcessMemory struct {
	PID int `json:"pid"`
	// RSS is VmRSS: resident now.
	RSS int64 `json:"rssBytes"`
	// PeakRSS is VmHWM: the highest RSS since the process started.
	PeakRSS int64 `json:"peakRSSBytes"`
}

// ReadProcessMemory reads VmRSS and VmHWM of a process (Linux).
func ReadProcessMemory(pid int) (ProcessMemory, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return ProcessMemory{}, fmt.Errorf("reading the memory of process %d: %w", pid, err)
	}
	m := ProcessMemory{PID: pid}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			m.RSS = kb * 1024
		case "VmHWM:":
			m.PeakRSS = kb * 1024
		}
	}
	if m.RSS == 0 && m.PeakRSS == 0 {
		return m, fmt.Errorf("process %d: no VmRSS/VmHWM in /proc/%d/status", pid, pid)
	}
	return m, nil
}

// ControlPlanePIDs are the process ids of one kube-apiserver and the etcd it stores in.
type ControlPlanePIDs struct {
	APIServer int `json:"apiserverPID"`
	Etcd      int `json:"etcdPID"`
}

// FindControlPlane finds the kube-apiserver started with --etcd-servers=etcdURL and the etcd
// listening on etcdURL, by scanning /proc. envtest does not export its processes' ids, and
// several envtest control planes may run on one machine (other tests): the etcd URL (a random
// loopback port) tells them apart, where the binary path would not.
func FindControlPlane(etcdURL string) (ControlPlanePIDs, error) {
	var out ControlPlanePIDs
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out, fmt.Errorf("listing processes: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue // gone, or a kernel thread
		}
		args := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
		switch filepath.Base(args[0]) {
		case "kube-apiserver":
			if hasFlag(args[1:], "etcd-servers", etcdURL) {
				out.APIServer = pid
			}
		case "etcd":
			if hasFlag(args[1:], "listen-client-urls", etcdURL) {
				out.Etcd = pid
			}
		}
	}
	if out.APIServer == 0 || out.Etcd == 0 {
		return out, fmt.Errorf("no kube-apiserver and etcd found for etcd %s (found apiserver pid %d, etcd pid %d)", etcdURL, out.APIServer, out.Etcd)
	}
	return out, nil
}

// hasFlag reports whether args carry --name=value (or --name value) with value among its
// comma-separated values.
func hasFlag(args []string, name, value string) bool {
	for i, a := range args {
		var v string
		switch {
		case strings.HasPrefix(a, "--"+name+"="):
			v = strings.TrimPrefix(a, "--"+name+"=")
		case a == "--"+name && i+1 < len(args):
			v = args[i+1]
		default:
			continue
		}
		for _, u := range strings.Split(v, ",") {
			if strings.TrimRight(u, "/") == strings.TrimRight(value, "/") {
				return true
			}
		}
	}
	return false
}

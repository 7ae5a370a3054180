package footprint

import (
	"context"
	"errors"

	lapsv1 "github.com/fleetlaps/fleetlaps/api/v1"
)

// ManagedDevicePrefix is where the kube-apiserver stores ManagedDevices in etcd.
var ManagedDevicePrefix = ResourcePrefix(lapsv1.GroupVersion.Group, "manageddevices")

// Report is one measurement of a control plane: the objects under a key prefix as stored,
// etcd's database and the memory of the kube-apiserver and etcd processes.
type Report struct {
	Stored      StoredSizes   `json:"stored"`
	EtcdDB      EtcdStatus    `json:"etcdDB"`
	APIServer   ProcessMemory `json:"apiserver"`
	EtcdProcess ProcessMemory `json:"etcd"`
}

// Measure measures the control plane whose etcd listens on etcdURL (envtest:
// env.ControlPlane.Etcd.URL.String()) and the values under prefix (ManagedDevicePrefix).
// It returns what it could measure together with every error met.
func Measure(ctx context.Context, etcdURL, prefix string) (Report, error) {
	var r Report
	var errs []error
	e, err := OpenEtcd(etcdURL)
	if err != nil {
		return r, err
	}
	defer e.Close()
	if r.Stored, err = e.Stored(ctx, prefix); err != nil {
		errs = append(errs, err)
	}
	if r.EtcdDB, err = e.Status(ctx); err != nil {
		errs = append(errs, err)
	}
	pids, err := FindControlPlane(etcdURL)
	if err != nil {
		errs = append(errs, err)
	}
	if pids.APIServer != 0 {
		if r.APIServer, err = ReadProcessMemory(pids.APIServer); err != nil {
			errs = append(errs, err)
		}
	}
	if pids.Etcd != 0 {
		if r.EtcdProcess, err = ReadProcessMemory(pids.Etcd); err != nil {
			errs = append(errs, err)
		}
	}
	return r, errors.Join(errs...)
}

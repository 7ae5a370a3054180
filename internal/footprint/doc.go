// Package footprint measures what a fleet costs the control plane: the bytes each object takes
// as etcd stores it (managedFields included), etcd's database size, and the resident memory of
// the kube-apiserver and etcd processes. The bench calls it against the envtest control plane;
// it reads etcd directly, so it sees exactly what the apiserver stored, not what a client
// decoded.
package footprint

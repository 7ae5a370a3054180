package footprint

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultEtcdPrefix is the kube-apiserver's --etcd-prefix default: every resource is stored
// under it as PREFIX/GROUP/RESOURCE/NAMESPACE/NAME (the core group has no GROUP segment).
const DefaultEtcdPrefix = "/registry"

// ResourcePrefix is the etcd key prefix of one custom resource (group and plural resource, e.g.
// "laps.fleetlaps.io", "manageddevices") under the default --etcd-prefix, ending in "/".
func ResourcePrefix(group, resource string) string {
	return DefaultEtcdPrefix + "/" + group + "/" + resource + "/"
}

// StoredSizes describes the values stored under one key prefix at etcd's current revision.
type StoredSizes struct {
	Prefix string `json:"prefix"`
	Count  int    `json:"count"`
	// TotalBytes is the sum of the values' lengths (keys not included).
	TotalBytes int64   `json:"totalBytes"`
	MeanBytes  float64 `json:"meanBytes"`
	P50Bytes   int64   `json:"p50Bytes"`
	P99Bytes   int64   `json:"p99Bytes"`
	MaxBytes   int64   `json:"maxBytes"`
	// KeyBytes is the sum of the keys' lengths.
	KeyBytes int64 `json:"keyBytes"`
	// ManagedFieldsBytes is the part of TotalBytes taken by metadata.managedFields (the bytes of
	// the managedFields JSON array as stored), for values stored as JSON (custom resources are).
	ManagedFieldsBytes int64 `json:"managedFieldsBytes"`
	// ManagedFieldsEntries is the mean number of managedFields entries per object.
	ManagedFieldsEntries float64 `json:"managedFieldsEntries"`
}

// EtcdStatus is etcd's own view of its database (the maintenance Status call).
type EtcdStatus struct {
	// DBSize is the backend file's size: it includes the history kept until compaction and
	// free pages not yet reclaimed by a defragmentation.
	DBSize int64 `json:"dbSize"`
	// DBSizeInUse is the part of the file holding live data (history not yet compacted included).
	DBSizeInUse int64 `json:"dbSizeInUse"`
	Revision    int64 `json:"revision"`
}

// Etcd reads an etcd server directly (the envtest etcd listens on plain HTTP on loopback).
type Etcd struct {
	client   *clientv3.Client
	endpoint string
}

// OpenEtcd connects to the etcd client URL, e.g. envtest's ControlPlane.Etcd.URL.String().
func OpenEtcd(endpoint string) (*Etcd, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd at %s: %w", endpoint, err)
	}
	return &Etcd{client: c, endpoint: endpoint}, nil
}

// Close closes the connection.
func (e *Etcd) Close() error { return e.client.Close() }

// storedPage is how many values one range request reads: a 100k fleet is read in pages so the
// measurement's own memory stays small.
const storedPage = 1000

// Stored measures every value under prefix at the current revision.
func (e *Etcd) Stored(ctx context.Context, prefix string) (StoredSizes, error) {
	out := StoredSizes{Prefix: prefix}
	var sizes []int64
	var entries int64
	end := clientv3.GetPrefixRangeEnd(prefix)
	key, rev := prefix, int64(0)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(storedPage), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)}
		if rev != 0 {
			// Every page at the first page's revision: one consistent picture.
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := e.client.Get(ctx, key, opts...)
		if err != nil {
			return out, fmt.Errorf("reading %s from etcd at %s: %w", prefix, e.endpoint, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			sizes = append(sizes, int64(len(kv.Value)))
			out.KeyBytes += int64(len(kv.Key))
			mf, n := managedFieldsSize(kv.Value)
			out.ManagedFieldsBytes += mf
			entries += int64(n)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	out.Count = len(sizes)
	if out.Count == 0 {
		return out, nil
	}
	slices.Sort(sizes)
	for _, s := range sizes {
		out.TotalBytes += s
	}
	out.MeanBytes = float64(out.TotalBytes) / float64(out.Count)
	out.P50Bytes = nearestRank(sizes, 0.50)
	out.P99Bytes = nearestRank(sizes, 0.99)
	out.MaxBytes = sizes[len(sizes)-1]
	out.ManagedFieldsEntries = float64(entries) / float64(out.Count)
	return out, nil
}

// Status is etcd's database size and revision.
func (e *Etcd) Status(ctx context.Context) (EtcdStatus, error) {
	s, err := e.client.Status(ctx, e.endpoint)
	if err != nil {
		return EtcdStatus{}, fmt.Errorf("etcd status at %s: %w", e.endpoint, err)
	}
	return EtcdStatus{DBSize: s.DbSize, DBSizeInUse: s.DbSizeInUse, Revision: s.Header.Revision}, nil
}

// Values returns the stored values under prefix (at most limit), e.g. to show one object as
// stored.
func (e *Etcd) Values(ctx context.Context, prefix string, limit int64) ([][]byte, error) {
	resp, err := e.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("reading %s from etcd at %s: %w", prefix, e.endpoint, err)
	}
	out := make([][]byte, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, kv.Value)
	}
	return out, nil
}

// managedFieldsSize is the length of metadata.managedFields in a JSON value and its number of
// entries; 0, 0 for a value that is not JSON (built-in kinds are stored as protobuf).
func managedFieldsSize(value []byte) (int64, int) {
	var obj struct {
		Metadata struct {
			ManagedFields json.RawMessage `json:"managedFields"`
		} `json:"metadata"`
	}
	if len(value) == 0 || value[0] != '{' || json.Unmarshal(value, &obj) != nil {
		return 0, 0
	}
	var entries []json.RawMessage
	_ = json.Unmarshal(obj.Metadata.ManagedFields, &entries)
	return int64(len(obj.Metadata.ManagedFields)), len(entries)
}

// nearestRank is the q-quantile of sorted values by the nearest-rank method.
func nearestRank(sorted []int64, q float64) int64 {
	i := int(math.Ceil(float64(len(sorted))*q)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ResourceUsage is how many keys one resource has under the registry and their bytes.
type ResourceUsage struct {
	Resource string `json:"resource"`
	Count    int    `json:"count"`
	Bytes    int64  `json:"bytes"`
}

// Resources sums the keys and values under root (DefaultEtcdPrefix) by resource: the key's
// segment after root, and for a group-qualified resource also the next one
// ("laps.fleetlaps.io/manageddevices", "events", "leases" stays "leases"). It shows what
// dominates etcd. Keys are read in pages, values counted by length.
func (e *Etcd) Resources(ctx context.Context, root string) ([]ResourceUsage, error) {
	prefix := strings.TrimRight(root, "/") + "/"
	end := clientv3.GetPrefixRangeEnd(prefix)
	byName := map[string]*ResourceUsage{}
	key, rev := prefix, int64(0)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(storedPage), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := e.client.Get(ctx, key, opts...)
		if err != nil {
			return nil, fmt.Errorf("reading %s from etcd at %s: %w", prefix, e.endpoint, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			name := resourceOf(strings.TrimPrefix(string(kv.Key), prefix))
			u := byName[name]
			if u == nil {
				u = &ResourceUsage{Resource: name}
				byName[name] = u
			}
			u.Count++
			u.Bytes += int64(len(kv.Key) + len(kv.Value))
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	out := make([]ResourceUsage, 0, len(byName))
	for _, u := range byName {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b ResourceUsage) int { return cmp.Compare(b.Bytes, a.Bytes) })
	return out, nil
}

// resourceOf names the resource of a key relative to the registry root: a first segment with a
// dot is an API group, followed by the resource.
func resourceOf(rel string) string {
	seg := strings.SplitN(rel, "/", 3)
	if len(seg) >= 2 && strings.Contains(seg[0], ".") {
		return seg[0] + "/" + seg[1]
	}
	return seg[0]
}

// Versions returns up to max stored versions of one key, newest first, as far back as etcd
// still holds them (the kube-apiserver compacts history every 5 minutes by default): diffing
// consecutive versions shows what each write changed.
func (e *Etcd) Versions(ctx context.Context, key string, max int) ([][]byte, error) {
	var out [][]byte
	opts := []clientv3.OpOption{}
	for len(out) < max {
		resp, err := e.client.Get(ctx, key, opts...)
		if err != nil {
			if len(out) > 0 && errors.Is(err, rpctypes.ErrCompacted) {
				return out, nil
			}
			return out, fmt.Errorf("reading %s from etcd at %s: %w", key, e.endpoint, err)
		}
		if len(resp.Kvs) == 0 {
			return out, nil
		}
		kv := resp.Kvs[0]
		out = append(out, kv.Value)
		if kv.Version <= 1 {
			return out, nil // the create
		}
		opts = []clientv3.OpOption{clientv3.WithRev(kv.ModRevision - 1)}
	}
	return out, nil
}

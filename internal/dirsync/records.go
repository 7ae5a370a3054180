package dirsync

import (
	"bytes"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// records is one snapshot's devices as the Store keeps them: packed (directory.CompactRecord,
// about 230 bytes a device with its text) in a slice sorted by key, with a sorted index of
// DN hashes. No map per device: a map entry costs more than the record it points to.
type records struct {
	// list holds the records whose key is a canonical GUID, sorted by it.
	list    []directory.CompactRecord
	parents *directory.Parents
	// other holds the rest (a key that is not a canonical GUID, a record Compact refused), by
	// key; otherByDN finds their keys by lower-case DN.
	other     map[string]directory.DeviceRecord
	otherByDN map[string]string
	// byDN is sorted by hash: the lower-case DN's hash and the record's position in list.
	byDN []dnEntry
	seed maphash.Seed
}

type dnEntry struct {
	hash uint64
	at   int32
}

// newRecords packs a snapshot's devices (keyed as the snapshot keys them).
func newRecords(devices map[string]directory.DeviceRecord) *records {
	rs := &records{parents: directory.NewParents(), other: map[string]directory.DeviceRecord{}, otherByDN: map[string]string{}, seed: maphash.MakeSeed()}
	rs.list = make([]directory.CompactRecord, 0, len(devices))
	for k, r := range devices {
		if c, ok := directory.Compact(r, rs.parents); ok && r.Key == k {
			if _, guid := c.KeyGUID(); guid {
				rs.list = append(rs.list, c)
				continue
			}
		}
		rs.other[k] = r
		if r.DistinguishedName != "" {
			rs.otherByDN[strings.ToLower(r.DistinguishedName)] = k
		}
	}
	slices.SortFunc(rs.list, func(a, b directory.CompactRecord) int {
		ka, _ := a.KeyGUID()
		kb, _ := b.KeyGUID()
		return bytes.Compare(ka[:], kb[:])
	})
	rs.byDN = make([]dnEntry, 0, len(rs.list))
	for i := range rs.list {
		if dn := rs.list[i].DistinguishedName(rs.parents); dn != "" {
			rs.byDN = append(rs.byDN, dnEntry{hash: rs.dnHash(dn), at: int32(i)})
		}
	}
	slices.SortFunc(rs.byDN, func(a, b dnEntry) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return int(a.at - b.at)
	})
	return rs
}

func (rs *records) dnHash(dn string) uint64 { return maphash.String(rs.seed, strings.ToLower(dn)) }

// len is the number of devices.
func (rs *records) len() int { return len(rs.list) + len(rs.other) }

// byKey finds the record a snapshot keyed k.
func (rs *records) byKey(k string) (directory.DeviceRecord, bool) {
	if g, ok := directory.ParseGUID(k); ok {
		i, found := slices.BinarySearchFunc(rs.list, g, func(c directory.CompactRecord, g [16]byte) int {
			kc, _ := c.KeyGUID()
			return bytes.Compare(kc[:], g[:])
		})
		if found {
			return rs.list[i].Expand(rs.parents), true
		}
	}
	r, ok := rs.other[k]
	return r, ok
}

// byDistinguishedName finds the record whose DN is dn, compared case-insensitively as the
// lower-case strings are (two records with one DN: either).
func (rs *records) byDistinguishedName(dn string) (directory.DeviceRecord, bool) {
	lower := strings.ToLower(dn)
	h := maphash.String(rs.seed, lower)
	i, _ := slices.BinarySearchFunc(rs.byDN, h, func(e dnEntry, h uint64) int {
		switch {
		case e.hash < h:
			return -1
		case e.hash > h:
			return 1
		}
		return 0
	})
	for ; i < len(rs.byDN) && rs.byDN[i].hash == h; i++ {
		c := &rs.list[rs.byDN[i].at]
		if strings.ToLower(c.DistinguishedName(rs.parents)) == lower {
			return c.Expand(rs.parents), true
		}
	}
	if k, ok := rs.otherByDN[lower]; ok {
		return rs.other[k], true
	}
	return directory.DeviceRecord{}, false
}

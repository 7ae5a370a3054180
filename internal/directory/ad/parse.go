package ad

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/fleetlaps/fleetlaps/internal/adsyntax"
)

// attrMetadata is one entry of replPropertyMetaData.
type attrMetadata struct {
	AttID   uint32
	Version uint32
	// Changed is the originating change time (second resolution).
	Changed time.Time
	USN     int64
}

// parseReplPropertyMetaData decodes the NDR replPropertyMetaDataBlob (version 1) AD and Samba
// return for replPropertyMetaData: uint32 version, uint32 reserved, uint32 count, uint32 reserved,
// then count entries of 48 bytes {attid u32, version u32, originating_change_time NTTIME_1sec u64,
// originating_invocation_id GUID, originating_usn i64, local_usn i64}.
func parseReplPropertyMetaData(b []byte) ([]attrMetadata, error) {
	if len(b) < 16 {
		return nil, fmt.Errorf("replPropertyMetaData too short: %d bytes", len(b))
	}
	if v := binary.LittleEndian.Uint32(b[0:4]); v != 1 {
		return nil, fmt.Errorf("replPropertyMetaData version %d not supported", v)
	}
	n := binary.LittleEndian.Uint32(b[8:12])
	if uint64(len(b)-16) < uint64(n)*48 {
		return nil, fmt.Errorf("replPropertyMetaData claims %d entries in %d bytes", n, len(b))
	}
	out := make([]attrMetadata, 0, n)
	for i := range int(n) {
		e := b[16+48*i:]
		secs := binary.LittleEndian.Uint64(e[8:16])
		var t time.Time
		if secs > 0 && secs < math.MaxInt64/2 {
			t = time.Unix(int64(secs)-adsyntax.FiletimeEpochOffset/10_000_000, 0).UTC()
		}
		out = append(out, attrMetadata{
			AttID:   binary.LittleEndian.Uint32(e[0:4]),
			Version: binary.LittleEndian.Uint32(e[4:8]),
			Changed: t,
			USN:     int64(binary.LittleEndian.Uint64(e[32:40])),
		})
	}
	return out, nil
}

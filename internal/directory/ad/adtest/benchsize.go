package adtest

import (
	"fmt"
	"os"
	"strconv"
)

// BenchComputersEnv sets the fleet size of the directory-sync benchmarks.
const BenchComputersEnv = "FLEETLAPS_BENCH_COMPUTERS"

// BenchComputers is the fleet size of the directory-sync benchmarks: $FLEETLAPS_BENCH_COMPUTERS,
// default 10000.
func BenchComputers() (int, error) {
	v := os.Getenv(BenchComputersEnv)
	if v == "" {
		return 10000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a number of computers >= 1", BenchComputersEnv, v)
	}
	return n, nil
}

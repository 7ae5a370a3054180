package testenv

import "flag"

// FuzzingOnly says whether this test process only fuzzes: a fuzz worker, or a coordinator run
// as `go test -run '^$' -fuzz X`. A TestMain that starts a server (envtest, a Samba DC) skips it
// then: fuzz targets need none, and the coordinator kills its workers without their TestMain
// cleanup, which would leave every worker's server running.
func FuzzingOnly() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	get := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	return get("test.fuzzworker") == "true" || (get("test.fuzz") != "" && get("test.run") == "^$")
}

package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Hash is a stable fingerprint of s: the first 16 hex characters of the SHA-256 of its canonical
// JSON (encoding/json writes struct fields in declaration order, so the encoding is fixed).
// Settings holds exactly what the renderers write, so the hash changes iff a rendered artefact
// would change. Adding a field to Settings changes every hash once; that is intended (the
// rendered output changes too).
func Hash(s Settings) string {
	b, err := json.Marshal(s)
	if err != nil {
		// Settings has only strings, integers and booleans: Marshal cannot fail.
		panic("policy: marshal Settings: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

package report

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
)

// tokenPrefix starts every enrollment token, so scanners (and Scrub) recognise one anywhere.
const tokenPrefix = "fltk1."

// A token is tokenPrefix + base64url("namespace/name") + "." + base64url(32 random bytes). The
// device part lets the server find the one hash to compare and answer "this token speaks for
// another device" (403) apart from "no such token" (401); the random part is the secret. Only
// SHA-256 of the whole token is stored: 256 random bits need no slow hash.
const tokenSecretBytes = 32

// ErrTokenMalformed is a bearer value that is not an enrollment token.
var ErrTokenMalformed = errors.New("the bearer token is not a fleetlaps enrollment token")

// NewToken makes a token for the device.
func NewToken(d DeviceRef) (string, error) {
	secret := make([]byte, tokenSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return tokenPrefix + enc.EncodeToString([]byte(d.String())) + "." + enc.EncodeToString(secret), nil
}

// ParseToken returns the device a token claims to speak for (not yet verified).
func ParseToken(tok string) (DeviceRef, error) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok || len(tok) > 512 {
		return DeviceRef{}, ErrTokenMalformed
	}
	dev, secret, ok := strings.Cut(rest, ".")
	if !ok {
		return DeviceRef{}, ErrTokenMalformed
	}
	enc := base64.RawURLEncoding
	name, err := enc.DecodeString(dev)
	if err != nil {
		return DeviceRef{}, ErrTokenMalformed
	}
	if raw, err := enc.DecodeString(secret); err != nil || len(raw) != tokenSecretBytes {
		return DeviceRef{}, ErrTokenMalformed
	}
	ns, n, ok := strings.Cut(string(name), "/")
	ref := DeviceRef{Namespace: ns, Name: n}
	if !ok || !dnsLabel.MatchString(ns) || len(ns) > 63 || !dnsSubdom.MatchString(n) || len(n) > 253 {
		return DeviceRef{}, ErrTokenMalformed
	}
	return ref, nil
}

// HashToken is what the token Secrets hold for a token.
func HashToken(tok string) []byte {
	sum := sha256.Sum256([]byte(tok))
	return sum[:]
}

// TokenMatches compares a presented token with a stored hash in constant time.
func TokenMatches(tok string, stored []byte) bool {
	return len(stored) == sha256.Size && subtle.ConstantTimeCompare(HashToken(tok), stored) == 1
}

// Token hashes live in Secrets of the manager's namespace, never in the devices' namespaces
// (whoever may read Secrets there must not learn them) and never in status. Each device
// namespace has TokenBuckets Secrets; a device's bucket comes from its name, so no Secret
// grows towards the 1 MiB object limit (16 buckets hold about 100,000 devices each).
const (
	// TokenBuckets is the number of token Secrets per device namespace.
	TokenBuckets = 16
	// LabelTokens marks the token Secrets (the report API caches only these).
	LabelTokens = "laps.fleetlaps.io/report-tokens"
	// LabelTokenNamespace on a token Secret names the device namespace it serves.
	LabelTokenNamespace = "laps.fleetlaps.io/device-namespace"
)

// TokenSecretName is the Secret holding the device's token hash (data key: the device name).
func TokenSecretName(d DeviceRef) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(d.Name))
	return fmt.Sprintf("fleetlaps-report-tokens.%s.%x", d.Namespace, h.Sum32()%TokenBuckets)
}

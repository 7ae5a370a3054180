// Package ownership is the marker a connection writes into the description of every Intune
// configuration policy it publishes, so it finds its own policies again (after a crash that lost
// the id) and never touches anyone else's. It has no Graph SDK dependency, so controllers and
// tests can use it cheaply.
package ownership

import "strings"

const prefix = "[fleetlaps-owner: "

// Marker is the text that marks a policy published by connection under name.
func Marker(connection, name string) string {
	return prefix + connection + "/" + name + "]"
}

// Owner returns the published name if description carries connection's marker.
func Owner(description, connection string) (string, bool) {
	i := strings.Index(description, prefix+connection+"/")
	if i < 0 {
		return "", false
	}
	rest := description[i+len(prefix)+len(connection)+1:]
	j := strings.Index(rest, "]")
	if j <= 0 {
		return "", false
	}
	return rest[:j], true
}

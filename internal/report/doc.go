// Package report is the door between endpoint agents and ManagedDevice status.agent: an HTTPS
// API on its own port where each device, with its own enrollment token, reports what Windows
// LAPS on it applied and logged. It holds the versioned report schema and its strict decoder,
// the tokens (only their hashes are kept, in Secrets of the manager's namespace), the per-device
// rate limit and replay check, the scrubbing of event messages, the coarse heartbeat (a report
// that changes nothing writes nothing inside the heartbeat interval) and the agent's client.
package report

// Package graphemu is a strict stand-in for Microsoft Graph, Intune and the Entra token endpoint,
// served over TLS on loopback. Tests and the demo reach it only through a connection's
// graphEndpoint, authorityHost and caFile settings, exactly as the manager reaches the real
// service. It answers in Graph's JSON shapes (@odata.context, value, @odata.nextLink, OData error
// bodies) and reports every request a LAPS controller must never send (a credentials $select, a
// list without $select, a body where none belongs, a settings-catalog body whose ids differ from
// the LAPS template) to its Failer, so a test fails on it.
//
// It does not import the Graph SDK: it checks what the SDK sends from the outside.
package graphemu

// Package adsyntax encodes and decodes the Active Directory attribute syntaxes that Windows LAPS
// uses (LAPS-REFERENCE.md §1): Large Integer FILETIMEs written as decimal strings, 16-byte GUIDs
// in .NET byte order, binary SIDs, and the 16-byte header of msLAPS-EncryptedPassword. The AD
// backend parses with it (defensively: every function is fuzzed) and the embedded directory and
// the fleet simulator write with it, so both sides agree by construction.
package adsyntax

// Package stream carries one rank's Mycroft trace records, live, to the
// analyzer. A rank serves them on a TCP port (Hub, Serve); the analyzer
// dials every rank (Dial) and chooses, per rank and at any time, what it
// wants: only "completion" records (cheap: one per collective) or every
// record, state snapshots included. That is the shape of Mycroft's
// trigger: it watches a sample of ranks closely and the rest lightly, and
// pulls everything from every rank of the group once something looks
// wrong.
//
// Protocol, JSON lines both ways. The rank speaks first:
//
//	{"type":"hello","rank":3,"ranks":8,"node":"h4"}
//
// then sends records (the Tracer's own lines, unchanged). The analyzer
// sends one line per change of mind:
//
//	{"want":"completions"}   completion records only (the default)
//	{"want":"all"}           every record; first the states still held
//	                         from the recent past (Hub keeps the last
//	                         Keep records), then live ones
//
// A rank never blocks its collective on the analyzer: a reader that falls
// further behind than the Hub holds skips what it missed (counted in
// Dropped).
package stream

import "bytes"

// Wants.
const (
	WantCompletions = "completions"
	WantAll         = "all"
)

// Hello is the rank's first line.
type Hello struct {
	Type  string `json:"type"` // "hello"
	Rank  int    `json:"rank"`
	Ranks int    `json:"ranks"`
	Node  string `json:"node"`
}

// Command is one line from the analyzer.
type Command struct {
	Want string `json:"want"`
}

var completionPrefix = []byte(`{"type":"completion"`)

func isCompletion(rec []byte) bool { return bytes.HasPrefix(rec, completionPrefix) }

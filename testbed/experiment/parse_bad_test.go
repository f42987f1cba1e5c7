package experiment

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tbctl/tbctl/testbed/topo"
)

// head is a valid start of a file; roles follow.
const head = "name: x\nclaim: c\ntopology: {file: t.yaml}\nduration: 10s\n"

// headRoles is head with two instances (lines 5-7).
const headRoles = head + "roles:\n  a: {role: r, node: h1}\n  b: {role: r, node: h2, params: {n: 1}}\n"

var badCases = []struct {
	name      string
	yaml      string
	sets      []string
	msg       string
	line, col int // 0, 0 for --set
}{
	{name: "malformed yaml", yaml: "name: x\nclaim: a: b\n", msg: "mapping values are not allowed", line: 2, col: 1},
	{name: "empty file", yaml: "", msg: "the file is empty", line: 1, col: 1},
	{name: "unknown top-level field", yaml: headRoles + "repetitons: 2\n", msg: `unknown field "repetitons" (did you mean "repetitions"?)`, line: 8, col: 1},
	{name: "unknown instance field", yaml: head + "roles:\n  a: {role: r, node: h1, parms: {}}\n", msg: `unknown field "parms" (did you mean "params"?)`, line: 6, col: 26},
	{name: "missing name", yaml: strings.TrimPrefix(headRoles, "name: x\n"), msg: "missing name", line: 1, col: 1},
	{name: "missing claim", yaml: strings.Replace(headRoles, "claim: c\n", "", 1), msg: "missing claim", line: 1, col: 1},
	{name: "missing duration", yaml: strings.Replace(headRoles, "duration: 10s\n", "", 1), msg: "missing duration", line: 1, col: 1},
	{name: "bad name", yaml: strings.Replace(headRoles, "name: x", "name: my exp", 1), msg: `experiment name "my exp" has invalid characters`, line: 1, col: 7},
	{name: "bad duration", yaml: strings.Replace(headRoles, "10s", "ten", 1), msg: `duration: "ten" is not a duration`, line: 4, col: 11},
	{name: "duration without unit", yaml: strings.Replace(headRoles, "10s", "10", 1), msg: "duration: 10 has no unit", line: 4, col: 11},
	{name: "zero duration", yaml: strings.Replace(headRoles, "10s", "0s", 1), msg: "duration must be more than zero", line: 4, col: 11},
	{name: "warmup not shorter", yaml: headRoles + "warmup: 10s\n", msg: "warmup 10s must be shorter than duration 10s", line: 8, col: 9},
	{name: "repetitions out of range", yaml: headRoles + "repetitions: 0\n", msg: "repetitions must be between 1 and 1000, got 0", line: 8, col: 14},
	{name: "seed not an integer", yaml: headRoles + "seed: one\n", msg: `seed: expected an integer, got the string "one"`, line: 8, col: 7},
	{name: "no topology source", yaml: strings.Replace(headRoles, "{file: t.yaml}", "{}", 1), msg: "topology: no source given", line: 3, col: 11},
	{name: "two topology sources", yaml: strings.Replace(headRoles, "{file: t.yaml}", "{file: t.yaml, generate: {shape: single}}", 1), msg: "both file and generate given", line: 3, col: 26},
	{name: "unknown shape", yaml: strings.Replace(headRoles, "{file: t.yaml}", "{generate: {shape: dumbell}}", 1), msg: `unknown shape "dumbell" (did you mean "dumbbell"?)`, line: 3, col: 30},
	{name: "generate parameter not used", yaml: strings.Replace(headRoles, "{file: t.yaml}", "{generate: {shape: single, k: 4}}", 1), msg: "single does not use k", line: 3, col: 22},
	{name: "duplicate instance", yaml: headRoles + "  a: {role: r, node: h3}\n", msg: `duplicate key "a" (first defined at t.yaml:6:3)`, line: 8, col: 3},
	{name: "missing role", yaml: head + "roles:\n  a: {node: h1}\n", msg: "roles.a: missing role", line: 6, col: 6},
	{name: "bad instance name", yaml: head + "roles:\n  a.b: {role: r, node: h1}\n", msg: `instance name "a.b" has invalid characters`, line: 6, col: 3},
	{name: "no roles", yaml: head + "roles: {}\n", msg: "roles: no instances", line: 5, col: 8},
	{name: "after unknown instance", yaml: head + "roles:\n  a: {role: r, node: h1}\n  b: {role: r, node: h1, after: [a, c]}\n", msg: `roles.b.after: unknown instance "c"`, line: 7, col: 37},
	{name: "after cycle", yaml: head + "roles:\n  a: {role: r, node: h1, after: [b]}\n  b: {role: r, node: h1, after: [a]}\n", msg: "start order cycle: a after b after a", line: 6, col: 3},
	{name: "self after", yaml: head + "roles:\n  a: {role: r, node: h1, after: a}\n", msg: "start order cycle: a after a", line: 6, col: 3},
	{name: "zip unequal", yaml: headRoles + "sweep:\n  zip:\n    roles.a.params.x: [1, 2]\n    roles.b.params.y: [1, 2, 3]\n", msg: "roles.b.params.y has 3 values but roles.a.params.x has 2", line: 11, col: 23},
	{name: "sweep values not a list", yaml: headRoles + "sweep:\n  cartesian:\n    roles.a.params.x: 4\n", msg: "sweep values must be a list, got an integer", line: 10, col: 23},
	{name: "sweep path missing", yaml: headRoles + "sweep:\n  cartesian:\n    roles.aa.params.x: [1]\n", msg: "sweep.cartesian: roles.aa does not exist (did you mean \"a\"?)", line: 10, col: 5},
	{name: "unknown sweep field", yaml: headRoles + "sweep:\n  cartesain: {}\n", msg: `unknown field "cartesain" (did you mean "cartesian"?)`, line: 9, col: 3},
	{name: "bad sweep value", yaml: headRoles + "sweep:\n  cartesian:\n    duration: [5s, soon]\n", msg: `with duration = soon: duration: "soon" is not a duration`, line: 10, col: 20},
	{name: "same key swept twice", yaml: headRoles + "sweep:\n  cartesian:\n    roles.a.params.x: [1]\n    roles.b.params.x: [2]\n", msg: `both end in "x"`, line: 11, col: 5},
	{name: "expression syntax", yaml: headRoles + "expect:\n  - a.x > > 3\n", msg: `expect: expected a number, a metric or '(', got ">"`, line: 9, col: 11},
	{name: "expression quoted", yaml: headRoles + "expect:\n  - \"a.x < 3 = 4\"\n", msg: "unexpected '='", line: 9, col: 14},
	{name: "expression unknown instance", yaml: headRoles + "expect:\n  - a.x > 1 and c.y < 2\n", msg: `expect: unknown instance "c" in c.y`, line: 9, col: 17},
	{name: "expression wrong role", yaml: headRoles + "expect:\n  - q.a.x > 1\n", msg: `instance a runs role "r", not "q"`, line: 9, col: 5},
	{name: "selector in expect", yaml: headRoles + "expect:\n  - a.x[n=1] > 1\n", msg: "selectors apply only in compare", line: 9, col: 9},
	{name: "selector key not swept", yaml: headRoles + "sweep:\n  cartesian:\n    roles.a.params.streams: [1, 2]\n" + "compare:\n  - a.x[stream=1] > a.x[streams=2]\n", msg: `selector key "stream" is not a swept parameter (did you mean "streams"?)`, line: 12, col: 9},
	{name: "expression is a number", yaml: headRoles + "compare:\n  - a.x + 1\n", msg: "the expression is a number, not a comparison", line: 9, col: 5},
	{name: "tolerance not a percentage", yaml: headRoles + "reproduce: {tolerance: ten}\n", msg: `reproduce.tolerance: "ten" is not a percentage`, line: 8, col: 24},
	{name: "tolerance without percent sign", yaml: headRoles + "reproduce:\n  tolerance: 0.15\n", msg: `reproduce.tolerance: "0.15" is not a percentage (write the percent sign: 0.15% (or 15% for a fraction of 0.15))`, line: 9, col: 14},
	{name: "tolerance over 100%", yaml: headRoles + "reproduce: {tolerance: 150%}\n", msg: "reproduce.tolerance: 150% is more than 100%", line: 8, col: 24},
	{name: "unknown reproduce field", yaml: headRoles + "reproduce: {tolerence: 5%}\n", msg: `unknown field "tolerence" (did you mean "tolerance"?)`, line: 8, col: 13},
	{name: "reproduce metric unknown instance", yaml: headRoles + "reproduce:\n  metrics: [a.x, c.y]\n", msg: `reproduce.metrics: unknown instance "c" in c.y`, line: 9, col: 18},
	{name: "reproduce metric without key", yaml: headRoles + "reproduce:\n  metrics: [a]\n", msg: `reproduce.metrics: "a" is not a metric of an instance`, line: 9, col: 13},
	{name: "reproduce metrics not a list", yaml: headRoles + "reproduce:\n  metrics: a.x\n", msg: "reproduce.metrics: expected a list", line: 9, col: 12},
	{name: "set bad tolerance", yaml: headRoles, sets: []string{"reproduce={tolerance: lots}"}, msg: `reproduce.tolerance: "lots" is not a percentage`},
	{name: "malformed set", yaml: headRoles, sets: []string{"duration"}, msg: `malformed --set "duration"`},
	{name: "set unknown path", yaml: headRoles, sets: []string{"roles.z.params.x=1"}, msg: "roles.z does not exist"},
	{name: "set bad value", yaml: headRoles, sets: []string{"repetitions=many"}, msg: `repetitions: expected an integer, got the string "many"`},
}

func TestBadInputs(t *testing.T) {
	for _, c := range badCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "t.yaml", c.sets)
			require.Error(t, err)
			var probs topo.Problems
			require.True(t, errors.As(err, &probs), "error is %T", err)
			for _, p := range probs {
				if strings.Contains(p.String(), c.msg) {
					want := topo.Pos{File: "t.yaml", Line: c.line, Col: c.col}
					if c.line == 0 {
						want = topo.Pos{File: SetFile}
					}
					assert.Equal(t, want, p.Pos, "problem %q", p)
					return
				}
			}
			t.Errorf("no problem contains %q; got:\n%s", c.msg, err)
		})
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	doc := "nmae: x\nclaim: c\ntopology: {}\nduration: 1s\nwarmup: 2s\nroles:\n  a: {role: r, node: h1, after: [zz]}\nexpect:\n  - b.x > 1\n"
	_, err := Parse([]byte(doc), "t.yaml", []string{"novalue"})
	require.Error(t, err)
	probs := err.(topo.Problems)
	assert.Len(t, probs, 7, "%s", err)
	assert.Equal(t, SetFile, probs[0].Pos.File, "--set problems sort first")
	for _, want := range []string{`unknown field "nmae"`, "missing name", "no source given", "warmup 2s must be shorter", `unknown instance "zz"`, `unknown instance "b"`, "malformed --set"} {
		assert.Contains(t, err.Error(), want)
	}
}

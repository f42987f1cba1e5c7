package experiment

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// metrics answer lookups: "instance.key" or "instance.key[sel]" → values.
func metrics(m map[string][]float64) Lookup {
	return func(instance, key string, sel map[string]string) ([]float64, error) {
		name := instance + "." + key
		for k, v := range sel {
			name += fmt.Sprintf("[%s=%s]", k, v)
		}
		values, ok := m[name]
		if !ok {
			return nil, fmt.Errorf("no metric %s", name)
		}
		return values, nil
	}
}

func TestEval(t *testing.T) {
	lookup := metrics(map[string][]float64{
		"flow1.tput":             {612.3},
		"flow1.tput[streams=4]":  {90, 100, 110},
		"flow1.tput[streams=1]":  {100, 120},
		"probe.rtt":              {12},
		"probe.zero":             {0},
		"probe.none":             {},
		"flow1.tput[cc=reno]":    {5},
		"flow2.tput[streams=10]": {1, 2, 3, 4},
	})
	cases := []struct {
		expr   string
		ok     bool
		detail string
		err    string
	}{
		{expr: "flow1.tput > 100", ok: true, detail: "612.3 > 100"},
		{expr: "flow1.tput < 100", ok: false, detail: "612.3 < 100"},
		{expr: "1 + 2 * 3 == 7", ok: true, detail: "7 == 7"},
		{expr: "(1 + 2) * 3 == 9", ok: true, detail: "9 == 9"},
		{expr: "10 - 4 - 3 == 3", ok: true, detail: "3 == 3"},
		{expr: "8 / 4 / 2 == 1", ok: true, detail: "1 == 1"},
		{expr: "-probe.rtt + 2 <= -10", ok: true, detail: "-10 <= -10"},
		{expr: "1e3 >= 1000 and 1.5 != 2", ok: true, detail: "1000 >= 1000 and 1.5 != 2"},
		{expr: "probe.rtt > 50 or probe.rtt < 20", ok: true, detail: "12 > 50 or 12 < 20"},
		{expr: "probe.rtt < 50 or probe.zero > 1", ok: true, detail: "12 < 50"},
		{expr: "probe.rtt > 50 and 1 / probe.zero > 1", ok: false, detail: "12 > 50"},
		{expr: "not probe.rtt > 50", ok: true, detail: "not (12 > 50)"},
		{expr: "not (1 < 2 and 2 < 3)", ok: false, detail: "not (1 < 2 and 2 < 3)"},
		{expr: "1 < 2 or 2 < 1 and 3 < 1", ok: true, detail: "1 < 2"},
		{expr: "flow1.tput[streams=4] >= 0.8 * flow1.tput[streams=1]", ok: true, detail: "100 >= 88"},
		{expr: "max(flow1.tput[streams=4]) == 110", ok: true, detail: "110 == 110"},
		{expr: "min(flow1.tput[streams=4], flow1.tput[streams=1]) == 90", ok: true, detail: "90 == 90"},
		{expr: "mean(flow1.tput[streams=1]) == 110", ok: true, detail: "110 == 110"},
		{expr: "median(flow2.tput[streams=10]) == 2.5", ok: true, detail: "2.5 == 2.5"},
		{expr: "max(probe.rtt, 20 + 1) == 21", ok: true, detail: "21 == 21"},
		{expr: "flow1.tput[cc = reno] < 10", ok: true, detail: "5 < 10"},
		{expr: "traffic.flow1.tput > 1", ok: true, detail: "612.3 > 1"},
		{expr: "1 / 3 < 1", ok: true, detail: "0.333333 < 1"},
		{expr: "probe.rtt / probe.zero > 1", err: "division by zero"},
		{expr: "probe.missing > 1", err: "probe.missing: no metric probe.missing"},
		{expr: "probe.none > 1", err: "probe.none: no values"},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			e, err := ParseExpr(c.expr)
			require.NoError(t, err)
			ok, detail, err := Eval(e, lookup)
			if c.err != "" {
				assert.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.ok, ok)
			assert.Equal(t, c.detail, detail)
		})
	}
}

func TestParseExprErrors(t *testing.T) {
	cases := []struct {
		expr   string
		msg    string
		offset int
	}{
		{"", "expected a number, a metric or '(', got end of expression", 0},
		{"a.x >", "got end of expression", 5},
		{"a.x > 1 )", `unexpected ")"`, 8},
		{"(a.x > 1", "expected ')', got end of expression", 8},
		{"a.x = 1", "unexpected '='", 4},
		{"a.x > 1 && b.y < 2", "unexpected character '&'", 8},
		{"!a.x", "unexpected '!'", 0},
		{"a.x", "the expression is a number, not a comparison", 0},
		{"1 < 2 < 3", "comparisons cannot be chained", 6},
		{"a > 1", `"a" is not a metric reference`, 0},
		{"a.b.c.d > 1", `"a.b.c.d" is not a metric reference`, 0},
		{"sum(a.x) > 1", `unknown function "sum"`, 0},
		{"mx(a.x) > 1", `did you mean "max"?`, 0},
		{"max() > 1", "needs at least one argument", 4},
		{"max(a.x b.y) > 1", "expected ',' or ')'", 8},
		{"a.x[streams] > 1", `malformed selector item "streams"`, 4},
		{"a.x[n=1, n=2] > 1", `selector key "n" given twice`, 9},
		{"a.x[n=1 > 1", "unclosed '['", 3},
		{"a.x > 1 and 2", "expected a comparison after and, got a number", 12},
		{"not a.x", "expected a comparison after not, got a number", 4},
		{"(a.x > 1) + 1 > 0", "expected a number before +, got a comparison", 1},
		{"max(a.x > 1) > 0", "expected ',' or ')', got \">\"", 8},
		{"max((a.x > 1)) > 0", "expected a number in max(), got a comparison", 5},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			_, err := ParseExpr(c.expr)
			var exprErr *ExprError
			require.True(t, errors.As(err, &exprErr), "error %v", err)
			assert.Contains(t, exprErr.Error(), c.msg)
			assert.Equal(t, c.offset, exprErr.Offset, exprErr.Error())
		})
	}
}

func TestExprString(t *testing.T) {
	for in, want := range map[string]string{
		"a.x>1":                          "a.x > 1",
		"(1+2)*3 == 9":                   "(1 + 2) * 3 == 9",
		"1-(2-3) == 2":                   "1 - (2 - 3) == 2",
		"not (a.x>1 or b.y<2) and c.z>3": "not (a.x > 1 or b.y < 2) and c.z > 3",
		"-(a.x+1) < max(b.y, 2)":         "-(a.x + 1) < max(b.y, 2)",
		"r.a.x[n=1,cc=reno] > 0":         "r.a.x[n=1, cc=reno] > 0",
	} {
		e, err := ParseExpr(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, e.String())
		again, err := ParseExpr(e.String())
		require.NoError(t, err)
		assert.Equal(t, want, again.String(), "String round-trips")
	}
}

func TestRefs(t *testing.T) {
	e, err := ParseExpr("max(a.x, b.y) > a.x + traffic.c.z[n=1]")
	require.NoError(t, err)
	assert.Equal(t, []Ref{
		{Instance: "a", Key: "x"},
		{Instance: "b", Key: "y"},
		{Role: "traffic", Instance: "c", Key: "z", Selector: map[string]string{"n": "1"}},
	}, Refs(e))
}

package experiment

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Lookup returns every value of a metric over the runs a selector picks:
// for expect, exactly the current run's value; for compare, the values of
// all runs whose sweep point matches selector (all runs when it is nil).
type Lookup func(instance, key string, selector map[string]string) ([]float64, error)

// Eval evaluates an expression that yields a truth value. A reference with
// several values counts as their median unless a function reduces it.
// detail shows the numbers compared, e.g. "612.3 > 100". Missing metrics
// and division by zero are errors.
func Eval(e Expr, lookup Lookup) (ok bool, detail string, err error) {
	if k, _ := kindOf(e); k != boolean {
		return false, "", fmt.Errorf("%s is a number, not a comparison", e)
	}
	return evaluator{lookup}.truth(e)
}

type evaluator struct{ lookup Lookup }

func (ev evaluator) truth(e Expr) (bool, string, error) {
	switch e := e.(type) {
	case *unaryExpr:
		ok, detail, err := ev.truth(e.x)
		return !ok, "not (" + detail + ")", err
	case *binaryExpr:
		switch e.op {
		case "and", "or":
			l, ldetail, err := ev.truth(e.l)
			if err != nil || (e.op == "and" && !l) || (e.op == "or" && l) {
				return l, ldetail, err
			}
			r, rdetail, err := ev.truth(e.r)
			return r, ldetail + " " + e.op + " " + rdetail, err
		}
		l, err := ev.number(e.l)
		if err != nil {
			return false, "", err
		}
		r, err := ev.number(e.r)
		if err != nil {
			return false, "", err
		}
		return compare(e.op, l, r), formatNumber(l) + " " + e.op + " " + formatNumber(r), nil
	}
	return false, "", fmt.Errorf("%s is not a comparison", e)
}

func compare(op string, l, r float64) bool {
	switch op {
	case "<":
		return l < r
	case "<=":
		return l <= r
	case ">":
		return l > r
	case ">=":
		return l >= r
	case "==":
		return l == r
	}
	return l != r
}

func (ev evaluator) number(e Expr) (float64, error) {
	switch e := e.(type) {
	case *numberExpr:
		return e.value, nil
	case *refExpr:
		values, err := ev.values(e)
		if err != nil {
			return 0, err
		}
		return reduce("median", values), nil
	case *unaryExpr:
		x, err := ev.number(e.x)
		return -x, err
	case *callExpr:
		var all []float64
		for _, a := range e.args {
			values, err := ev.arg(a)
			if err != nil {
				return 0, err
			}
			all = append(all, values...)
		}
		return reduce(e.fn, all), nil
	case *binaryExpr:
		l, err := ev.number(e.l)
		if err != nil {
			return 0, err
		}
		r, err := ev.number(e.r)
		if err != nil {
			return 0, err
		}
		switch e.op {
		case "+":
			return l + r, nil
		case "-":
			return l - r, nil
		case "*":
			return l * r, nil
		case "/":
			if r == 0 {
				return 0, fmt.Errorf("division by zero in %s (%s / 0)", e, formatNumber(l))
			}
			return l / r, nil
		}
	}
	return 0, fmt.Errorf("%s is not a number", e)
}

// arg is the values a function argument contributes: every value of a
// reference, or the value of any other expression.
func (ev evaluator) arg(e Expr) ([]float64, error) {
	if r, ok := e.(*refExpr); ok {
		return ev.values(r)
	}
	x, err := ev.number(e)
	return []float64{x}, err
}

func (ev evaluator) values(r *refExpr) ([]float64, error) {
	values, err := ev.lookup(r.Instance, r.Key, r.Selector)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("%s: no values", r)
	}
	return values, nil
}

// reduce applies min, max, mean or median to a non-empty list.
func reduce(fn string, values []float64) float64 {
	switch fn {
	case "min":
		return slices.Min(values)
	case "max":
		return slices.Max(values)
	case "mean":
		sum := 0.0
		for _, v := range values {
			sum += v
		}
		return sum / float64(len(values))
	}
	sorted := slices.Sorted(slices.Values(values))
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// formatNumber prints whole numbers without a fraction and others with at
// most six significant digits.
func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	if s := strconv.FormatFloat(v, 'f', -1, 64); len(s) <= 10 {
		return s
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// Refs lists the metric references of e, each once, in the order written.
func Refs(e Expr) []Ref {
	var out []Ref
	seen := map[string]bool{}
	for _, r := range refsOf(e) {
		if s := r.String(); !seen[s] {
			seen[s] = true
			out = append(out, r.Ref)
		}
	}
	return out
}

func refsOf(e Expr) []*refExpr {
	switch e := e.(type) {
	case *refExpr:
		return []*refExpr{e}
	case *unaryExpr:
		return refsOf(e.x)
	case *binaryExpr:
		return append(refsOf(e.l), refsOf(e.r)...)
	case *callExpr:
		var out []*refExpr
		for _, a := range e.args {
			out = append(out, refsOf(a)...)
		}
		return out
	}
	return nil
}

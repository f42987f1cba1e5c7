package experiment

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tbctl/tbctl/internal/suggest"
)

// Expr is a parsed expect or compare expression. The grammar, loosest
// binding first:
//
//	or:      and ("or" and)*
//	and:     not ("and" not)*
//	not:     "not" not | compare
//	compare: sum [("<" | "<=" | ">" | ">=" | "==" | "!=") sum]
//	sum:     product (("+" | "-") product)*
//	product: unary (("*" | "/") unary)*
//	unary:   "-" unary | primary
//	primary: NUMBER | REF ["[" KEY=VALUE ("," KEY=VALUE)* "]"]
//	         | ("min" | "max" | "mean" | "median") "(" sum ("," sum)* ")"
//	         | "(" or ")"
//
// REF is INSTANCE.KEY or ROLE.INSTANCE.KEY. Write spaces around a minus
// between references: a.x-b.y reads as one reference to instance "x-b".
type Expr interface{ String() string }

// Ref is a metric reference in an expression.
type Ref struct {
	Role     string // "" unless written as ROLE.INSTANCE.KEY
	Instance string
	Key      string
	Selector map[string]string // sweep key → value; nil when none is written
}

func (r Ref) String() string {
	if r.Role != "" {
		return r.Role + "." + r.Instance + "." + r.Key
	}
	return r.Instance + "." + r.Key
}

// ExprError is a syntax or type error in an expression, at byte Offset.
type ExprError struct {
	Offset    int
	Msg, Hint string
}

func (e *ExprError) Error() string {
	s := fmt.Sprintf("column %d: %s", e.Offset+1, e.Msg)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Functions are the functions expressions may call.
var Functions = []string{"min", "max", "mean", "median"}

type (
	numberExpr struct {
		value float64
		text  string
		off   int
	}
	refExpr struct {
		Ref
		selector []selectorItem
		off      int
	}
	selectorItem struct {
		key, value string
		off        int
	}
	unaryExpr struct {
		op  string // "-" or "not"
		x   Expr
		off int
	}
	binaryExpr struct {
		op   string
		l, r Expr
		off  int // of the operator
	}
	callExpr struct {
		fn   string
		args []Expr
		off  int
	}
)

const (
	precOr = iota + 1
	precAnd
	precNot
	precCompare
	precSum
	precProduct
	precUnary
	precPrimary
)

var binaryPrec = map[string]int{
	"or": precOr, "and": precAnd,
	"<": precCompare, "<=": precCompare, ">": precCompare, ">=": precCompare, "==": precCompare, "!=": precCompare,
	"+": precSum, "-": precSum, "*": precProduct, "/": precProduct,
}

func precOf(e Expr) int {
	switch e := e.(type) {
	case *binaryExpr:
		return binaryPrec[e.op]
	case *unaryExpr:
		if e.op == "not" {
			return precNot
		}
		return precUnary
	}
	return precPrimary
}

func wrap(e Expr, least int) string {
	if precOf(e) < least {
		return "(" + e.String() + ")"
	}
	return e.String()
}

func (n *numberExpr) String() string { return n.text }

func (r *refExpr) String() string {
	if len(r.selector) == 0 {
		return r.Ref.String()
	}
	items := make([]string, len(r.selector))
	for i, s := range r.selector {
		items[i] = s.key + "=" + s.value
	}
	return r.Ref.String() + "[" + strings.Join(items, ", ") + "]"
}

func (u *unaryExpr) String() string {
	if u.op == "not" {
		return "not " + wrap(u.x, precNot)
	}
	return "-" + wrap(u.x, precUnary)
}

func (b *binaryExpr) String() string {
	p := binaryPrec[b.op]
	return wrap(b.l, p) + " " + b.op + " " + wrap(b.r, p+1)
}

func (c *callExpr) String() string {
	args := make([]string, len(c.args))
	for i, a := range c.args {
		args[i] = a.String()
	}
	return c.fn + "(" + strings.Join(args, ", ") + ")"
}

// ParseExpr parses an expression whose result is true or false. Errors are
// *ExprError.
func ParseExpr(s string) (Expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &exprParser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, &ExprError{Offset: t.off, Msg: fmt.Sprintf("unexpected %s", t)}
	}
	if k, off := kindOf(e); k != boolean {
		return nil, &ExprError{Offset: off, Msg: "the expression is a number, not a comparison", Hint: "compare it, e.g. " + e.String() + " > 0"}
	}
	if err := typeCheck(e); err != nil {
		return nil, err
	}
	return e, nil
}

type exprParser struct {
	toks []token
	i    int
}

func (p *exprParser) peek() token { return p.toks[p.i] }

func (p *exprParser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *exprParser) accept(kind tokenKind, texts ...string) (token, bool) {
	t := p.peek()
	if t.kind == kind && (len(texts) == 0 || contains(texts, t.text)) {
		return p.next(), true
	}
	return t, false
}

func (p *exprParser) binaryLevel(operand func() (Expr, error), kind tokenKind, ops ...string) (Expr, error) {
	l, err := operand()
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.accept(kind, ops...)
		if !ok {
			return l, nil
		}
		r, err := operand()
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{op: t.text, l: l, r: r, off: t.off}
	}
}

func (p *exprParser) or() (Expr, error)  { return p.binaryLevel(p.and, tKeyword, "or") }
func (p *exprParser) and() (Expr, error) { return p.binaryLevel(p.not, tKeyword, "and") }

func (p *exprParser) not() (Expr, error) {
	if t, ok := p.accept(tKeyword, "not"); ok {
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return &unaryExpr{op: "not", x: x, off: t.off}, nil
	}
	return p.compare()
}

var compareOps = []string{"<", "<=", ">", ">=", "==", "!="}

func (p *exprParser) compare() (Expr, error) {
	l, err := p.sum()
	if err != nil {
		return nil, err
	}
	t, ok := p.accept(tOp, compareOps...)
	if !ok {
		return l, nil
	}
	r, err := p.sum()
	if err != nil {
		return nil, err
	}
	if t2, ok := p.accept(tOp, compareOps...); ok {
		return nil, &ExprError{Offset: t2.off, Msg: "comparisons cannot be chained", Hint: "join them with and: a < b and b < c"}
	}
	return &binaryExpr{op: t.text, l: l, r: r, off: t.off}, nil
}

func (p *exprParser) sum() (Expr, error)     { return p.binaryLevel(p.product, tOp, "+", "-") }
func (p *exprParser) product() (Expr, error) { return p.binaryLevel(p.unary, tOp, "*", "/") }

func (p *exprParser) unary() (Expr, error) {
	if t, ok := p.accept(tOp, "-"); ok {
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &unaryExpr{op: "-", x: x, off: t.off}, nil
	}
	return p.primary()
}

func (p *exprParser) primary() (Expr, error) {
	t := p.next()
	switch {
	case t.kind == tNumber:
		v, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, &ExprError{Offset: t.off, Msg: fmt.Sprintf("malformed number %q", t.text)}
		}
		return &numberExpr{value: v, text: t.text, off: t.off}, nil
	case t.kind == tOp && t.text == "(":
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if _, ok := p.accept(tOp, ")"); !ok {
			return nil, &ExprError{Offset: p.peek().off, Msg: fmt.Sprintf("expected ')', got %s", p.peek()), Hint: fmt.Sprintf("close the '(' at column %d", t.off+1)}
		}
		return e, nil
	case t.kind == tIdent && p.peek().kind == tOp && p.peek().text == "(":
		return p.call(t)
	case t.kind == tIdent:
		return p.ref(t)
	}
	return nil, &ExprError{Offset: t.off, Msg: fmt.Sprintf("expected a number, a metric or '(', got %s", t)}
}

func (p *exprParser) call(name token) (Expr, error) {
	if !contains(Functions, name.text) {
		return nil, &ExprError{Offset: name.off, Msg: fmt.Sprintf("unknown function %q", name.text), Hint: suggest.Hint(name.text, Functions, "functions")}
	}
	p.next() // (
	c := &callExpr{fn: name.text, off: name.off}
	if t, ok := p.accept(tOp, ")"); ok {
		return nil, &ExprError{Offset: t.off, Msg: name.text + "() needs at least one argument"}
	}
	for {
		arg, err := p.sum()
		if err != nil {
			return nil, err
		}
		c.args = append(c.args, arg)
		if _, ok := p.accept(tOp, ","); ok {
			continue
		}
		if _, ok := p.accept(tOp, ")"); ok {
			return c, nil
		}
		return nil, &ExprError{Offset: p.peek().off, Msg: fmt.Sprintf("expected ',' or ')', got %s", p.peek())}
	}
}

func (p *exprParser) ref(t token) (Expr, error) {
	parts := strings.Split(t.text, ".")
	r := &refExpr{off: t.off}
	switch len(parts) {
	case 2:
		r.Instance, r.Key = parts[0], parts[1]
	case 3:
		r.Role, r.Instance, r.Key = parts[0], parts[1], parts[2]
	default:
		return nil, &ExprError{Offset: t.off, Msg: fmt.Sprintf("%q is not a metric reference", t.text), Hint: "write INSTANCE.KEY or ROLE.INSTANCE.KEY, e.g. flow1.throughput_mbps"}
	}
	if s, ok := p.accept(tSelector); ok {
		items, err := parseSelector(s)
		if err != nil {
			return nil, err
		}
		r.selector = items
		r.Selector = map[string]string{}
		for _, it := range items {
			r.Selector[it.key] = it.value
		}
	}
	return r, nil
}

// parseSelector reads "key=value, key=value"; s.off is the offset of '['.
func parseSelector(s token) ([]selectorItem, error) {
	var items []selectorItem
	off := s.off + 1
	seen := map[string]bool{}
	for _, raw := range strings.Split(s.text, ",") {
		start := off + len(raw) - len(strings.TrimLeft(raw, " \t"))
		off += len(raw) + 1
		key, value, ok := strings.Cut(raw, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" || value == "" {
			return nil, &ExprError{Offset: start, Msg: fmt.Sprintf("malformed selector item %q", strings.TrimSpace(raw)), Hint: "write [key=value, ...], e.g. [streams=4]"}
		}
		if seen[key] {
			return nil, &ExprError{Offset: start, Msg: fmt.Sprintf("selector key %q given twice", key)}
		}
		seen[key] = true
		items = append(items, selectorItem{key: key, value: value, off: start})
	}
	return items, nil
}

type exprKind int

const (
	numeric exprKind = iota
	boolean
)

// kindOf says whether e yields a number or a truth value, and where it
// starts.
func kindOf(e Expr) (exprKind, int) {
	switch e := e.(type) {
	case *binaryExpr:
		_, off := kindOf(e.l)
		if precOf(e) <= precCompare {
			return boolean, off
		}
		return numeric, off
	case *unaryExpr:
		if e.op == "not" {
			return boolean, offsetOf(e)
		}
	}
	return numeric, offsetOf(e)
}

func offsetOf(e Expr) int {
	switch e := e.(type) {
	case *numberExpr:
		return e.off
	case *refExpr:
		return e.off
	case *binaryExpr:
		return offsetOf(e.l)
	case *unaryExpr:
		return e.off
	case *callExpr:
		return e.off
	}
	return 0
}

// typeCheck reports operands of the wrong kind: numbers where a truth value
// is needed (and, or, not) or the reverse.
func typeCheck(e Expr) error {
	want := func(x Expr, k exprKind, where string) error {
		if got, off := kindOf(x); got != k {
			msg := "expected a number " + where + ", got a comparison"
			if k == boolean {
				msg = "expected a comparison " + where + ", got a number"
			}
			return &ExprError{Offset: off, Msg: msg}
		}
		return typeCheck(x)
	}
	switch e := e.(type) {
	case *binaryExpr:
		k := numeric
		if e.op == "and" || e.op == "or" {
			k = boolean
		}
		if err := want(e.l, k, "before "+e.op); err != nil {
			return err
		}
		return want(e.r, k, "after "+e.op)
	case *unaryExpr:
		if e.op == "not" {
			return want(e.x, boolean, "after not")
		}
		return want(e.x, numeric, "after -")
	case *callExpr:
		for _, a := range e.args {
			if err := want(a, numeric, "in "+e.fn+"()"); err != nil {
				return err
			}
		}
	}
	return nil
}

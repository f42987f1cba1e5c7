package experiment

import (
	"fmt"
	"strings"
)

type tokenKind int

const (
	tEOF tokenKind = iota
	tNumber
	tIdent
	tKeyword  // and, or, not
	tOp       // + - * / ( ) , and comparisons
	tSelector // the text between [ and ]
)

type token struct {
	kind tokenKind
	text string
	off  int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tSelector:
		return "[" + t.text + "]"
	}
	return fmt.Sprintf("%q", t.text)
}

var keywords = []string{"and", "or", "not"}

func isWord(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isDigit(c) || c == '.' && i+1 < len(s) && isDigit(s[i+1]):
			end := scanNumber(s, i)
			if end < len(s) && isWord(s[end]) {
				end = scanIdent(s, i) // e.g. 2flows.rate
				toks = append(toks, identToken(s[i:end], i))
			} else {
				toks = append(toks, token{tNumber, s[i:end], i})
			}
			i = end
		case isWord(c):
			end := scanIdent(s, i)
			toks = append(toks, identToken(s[i:end], i))
			i = end
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, &ExprError{Offset: i, Msg: "unclosed '['", Hint: "write a selector as [key=value, ...]"}
			}
			toks = append(toks, token{tSelector, s[i+1 : i+end], i})
			i += end + 1
		case strings.ContainsRune("<>=!", rune(c)):
			if i+1 < len(s) && s[i+1] == '=' {
				toks = append(toks, token{tOp, s[i : i+2], i})
				i += 2
				continue
			}
			switch c {
			case '=':
				return nil, &ExprError{Offset: i, Msg: "unexpected '='", Hint: "compare with =="}
			case '!':
				return nil, &ExprError{Offset: i, Msg: "unexpected '!'", Hint: "negate with not, or compare with !="}
			}
			toks = append(toks, token{tOp, s[i : i+1], i})
			i++
		case strings.ContainsRune("+-*/(),", rune(c)):
			toks = append(toks, token{tOp, s[i : i+1], i})
			i++
		default:
			return nil, &ExprError{Offset: i, Msg: fmt.Sprintf("unexpected character %q", c)}
		}
	}
	return append(toks, token{tEOF, "", len(s)}), nil
}

func identToken(text string, off int) token {
	if contains(keywords, text) {
		return token{tKeyword, text, off}
	}
	return token{tIdent, text, off}
}

// scanNumber returns the end of the number starting at i: digits, an
// optional fraction and an optional exponent.
func scanNumber(s string, i int) int {
	digits := func(i int) int {
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i
	}
	i = digits(i)
	if i < len(s) && s[i] == '.' {
		i = digits(i + 1)
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			i = digits(j)
		}
	}
	return i
}

// scanIdent returns the end of the word starting at i: word characters,
// with '.' and '-' allowed between two of them.
func scanIdent(s string, i int) int {
	for i < len(s) {
		switch {
		case isWord(s[i]):
			i++
		case (s[i] == '.' || s[i] == '-') && i+1 < len(s) && isWord(s[i+1]) && i > 0 && isWord(s[i-1]):
			i++
		default:
			return i
		}
	}
	return i
}

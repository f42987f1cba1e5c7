package topo

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one defect found in a topology file.
type Problem struct {
	Pos  Pos
	Msg  string
	Hint string // what to do about it
}

func (p Problem) String() string {
	s := p.Pos.String() + ": " + p.Msg
	if p.Hint != "" {
		s += " (" + p.Hint + ")"
	}
	return s
}

// Problems is every defect found in a file. It is the error returned by
// Parse and Load.
type Problems []Problem

func (ps Problems) Error() string {
	sorted := append(Problems(nil), ps...)
	sorted.sort()
	lines := make([]string, len(sorted))
	for i, p := range sorted {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (ps Problems) sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Pos, ps[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// problemList collects problems while a file is checked.
type problemList struct {
	list Problems
}

func (l *problemList) add(pos Pos, hint, format string, args ...any) {
	l.list = append(l.list, Problem{Pos: pos, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// at reports whether a problem is already recorded at pos.
func (l *problemList) at(pos Pos) bool {
	for _, p := range l.list {
		if p.Pos == pos {
			return true
		}
	}
	return false
}

// result is the collected problems sorted by position, each distinct
// problem once (inherited values can yield the same problem per node).
func (l *problemList) result() Problems { return l.list.Sorted() }

// Sorted returns the problems sorted by position, each distinct problem
// once; parsers of other files use it for their own problem lists.
func (ps Problems) Sorted() Problems {
	sorted := append(Problems(nil), ps...)
	sorted.sort()
	var out Problems
	seen := map[Problem]bool{}
	for _, p := range sorted {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

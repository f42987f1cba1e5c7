package anonymize

import (
	"sort"
	"strings"
)

// Scrubber rewrites text for sharing: every IP address as [Anonymizer.Text]
// does, and every name it was told about (node names, host names, lab
// names) by its stable pseudonym, wherever the name stands as a whole word.
// A word is a run of letters and digits: "h1" is replaced in "h1:eth1",
// "tb-lab-0-h1" and "node h1," but not in "path1" or "h10".
//
// Replacing names is blunt: a node called "rr" is also replaced where "rr"
// means something else (a traffic mode). Callers offer it as an option.
type Scrubber struct {
	a       *Anonymizer
	names   map[string]string // name → pseudonym
	order   []string          // names, longest first
	byFirst [256][]string     // names by first byte, longest first
}

// Scrubber returns a Scrubber that knows no names yet.
func (a *Anonymizer) Scrubber() *Scrubber {
	return &Scrubber{a: a, names: map[string]string{}}
}

// AddName asks for name to be replaced by its pseudonym of the given kind
// ("node", "host", "lab"). Empty names are ignored; a name added twice
// keeps its first kind.
func (s *Scrubber) AddName(kind, name string) {
	if name == "" {
		return
	}
	if _, ok := s.names[name]; ok {
		return
	}
	s.names[name] = s.a.Name(kind, name)
	s.order = append(s.order, name)
	sort.SliceStable(s.order, func(i, j int) bool { return len(s.order[i]) > len(s.order[j]) })
	first := &s.byFirst[name[0]]
	*first = append(*first, name)
	sort.SliceStable(*first, func(i, j int) bool { return len((*first)[i]) > len((*first)[j]) })
}

// Names returns the names the Scrubber replaces.
func (s *Scrubber) Names() []string { return append([]string(nil), s.order...) }

// Name returns the pseudonym of a listed name, or name itself.
func (s *Scrubber) Name(name string) string {
	if p, ok := s.names[name]; ok {
		return p
	}
	return name
}

// String rewrites the addresses and listed names in text.
func (s *Scrubber) String(text string) string {
	text = s.a.Text(text)
	if len(s.order) == 0 {
		return text
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(text); {
		if !isWordByte(text[i]) || (i > 0 && isWordByte(text[i-1])) {
			i++
			continue
		}
		repl, n := s.match(text[i:])
		if n == 0 {
			for i < len(text) && isWordByte(text[i]) {
				i++
			}
			continue
		}
		b.WriteString(text[last:i])
		b.WriteString(repl)
		last, i = i+n, i+n
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// match finds the longest listed name that text starts with and that ends
// at a word boundary; names may hold separators ("leaf-1").
func (s *Scrubber) match(text string) (string, int) {
	for _, name := range s.byFirst[text[0]] {
		if strings.HasPrefix(text, name) && (len(text) == len(name) || !isWordByte(text[len(name)])) {
			return s.names[name], len(name)
		}
	}
	return "", 0
}

// Contains reports whether text still holds a listed name as a whole word,
// and which; checks of shared output use it.
func (s *Scrubber) Contains(text string) (string, bool) {
	for _, name := range s.order {
		if HasWord(text, name) {
			return name, true
		}
	}
	return "", false
}

// HasWord reports whether word stands in text as a whole word: not glued
// to a letter or digit on either side.
func HasWord(text, word string) bool {
	if word == "" {
		return false
	}
	for i := 0; ; {
		j := strings.Index(text[i:], word)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(word)
		if (j == 0 || !isWordByte(text[j-1])) && (end == len(text) || !isWordByte(text[end])) {
			return true
		}
		i = j + 1
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

package anonymize

import (
	"strings"
	"testing"
)

func TestScrubberNamesAsWholeWords(t *testing.T) {
	a := NewFromSecret([]byte("scrub test"))
	s := a.Scrubber()
	s.AddName("node", "h1")
	s.AddName("node", "leaf-1")
	s.AddName("node", "leaf")
	s.AddName("host", "vm")
	h1, leaf1, leaf, vm := a.Name("node", "h1"), a.Name("node", "leaf-1"), a.Name("node", "leaf"), a.Name("host", "vm")
	cases := []struct{ in, want string }{
		{"h1:eth1", h1 + ":eth1"},
		{"/run/netns/tb-lab-0-h1", "/run/netns/tb-lab-0-" + h1},
		{"path1 h10 xh1 h1x", "path1 h10 xh1 h1x"},
		{"leaf-1 and leaf-2", leaf1 + " and " + leaf + "-2"},
		{`{"node":"h1","host":"vm","src":"198.18.0.1"}`, `{"node":"` + h1 + `","host":"` + vm + `","src":"` + a.Text("198.18.0.1") + `"}`},
		{"", ""},
	}
	for _, c := range cases {
		if got := s.String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
		if name, ok := s.Contains(s.String(c.in)); ok {
			t.Errorf("String(%q) still holds %q", c.in, name)
		}
	}
	if strings.Contains(a.Text("198.18.0.1"), "198.18.0.1") {
		t.Fatal("address not rewritten")
	}
	if _, ok := s.Contains("a h1 b"); !ok {
		t.Error("Contains missed h1")
	}
	if _, ok := s.Contains("path1"); ok {
		t.Error("Contains matched inside a word")
	}
}

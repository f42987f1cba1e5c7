package pcap

import (
	"bytes"
	"io"
	"testing"

	"github.com/tbctl/tbctl/collectors/anonymize"
)

var fuzzLinkTypes = []uint16{LinkTypeEthernet, LinkTypeRaw, LinkTypeLinuxSLL, LinkTypeIPv4, LinkTypeIPv6, LinkTypeSLL2}

// FuzzAnonymizeFrame: no frame, however malformed, makes the anonymizer
// fail or change the frame's length.
func FuzzAnonymizeFrame(f *testing.F) {
	a := anonymize.NewFromSecret([]byte("fuzz"))
	for _, c := range anonCases(a) {
		f.Add(uint8(0), c.frame)
		f.Add(uint8(1), c.frame[14:])
	}
	x := newPacketAnonymizer(a)
	f.Fuzz(func(t *testing.T, lt uint8, frame []byte) {
		n := len(frame)
		if err := x.frame(fuzzLinkTypes[int(lt)%len(fuzzLinkTypes)], frame); err != nil {
			t.Fatal(err)
		}
		if len(frame) != n {
			t.Fatal("length changed")
		}
	})
}

// FuzzRead: malformed files give errors, not panics, to the reader and to
// Anonymize, and what Anonymize writes reads back.
func FuzzRead(f *testing.F) {
	a := anonymize.NewFromSecret([]byte("fuzz"))
	f.Add(bigEndianFile())
	var buf bytes.Buffer
	w := newWriter(&buf)
	w.shb(nil)
	w.idb(LinkTypeEthernet, 0, []option{{optIfName, []byte("eth0")}})
	for _, c := range anonCases(a)[:4] {
		w.epb(0, 1, c.frame, uint32(len(c.frame)), nil)
	}
	w.flush()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
		var out bytes.Buffer
		if Anonymize(bytes.NewReader(in), &out, a) != nil {
			return
		}
		r = NewReader(&out)
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Anonymize wrote what does not read back: %v", err)
			}
		}
	})
}

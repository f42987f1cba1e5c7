package topo

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed schema.json
var schemaJSON []byte

const schemaURL = "https://tbctl.dev/schema/topology.json"

// SchemaJSON returns the JSON Schema (draft 2020-12) of the topology file
// format.
func SchemaJSON() []byte { return bytes.Clone(schemaJSON) }

var compiledSchema = sync.OnceValues(compileSchema)

func compileSchema() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaURL)
}

var printer = message.NewPrinter(language.English)

// checkSchema validates the document against the schema and reports each
// schema error not already reported at the same position by the parser's
// own checks (which come with better messages).
func (p *parser) checkSchema(instance any) {
	sch, err := compiledSchema()
	if err != nil {
		panic(fmt.Sprintf("topo: embedded schema: %v", err))
	}
	err = sch.Validate(normalizeJSON(instance))
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return
	}
	for _, leaf := range schemaLeaves(verr) {
		for _, sp := range p.schemaProblems(leaf) {
			if !p.probs.at(sp.Pos) {
				p.probs.list = append(p.probs.list, sp)
			}
		}
	}
}

// schemaLeaves flattens an error tree into its most specific errors. In
// oneOf and anyOf, alternatives failing only on type are dropped when
// another alternative got further.
func schemaLeaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if _, ok := e.ErrorKind.(*kind.PropertyNames); ok || len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	causes := e.Causes
	switch e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		causes = withoutTypeErrors(causes)
	}
	var out []*jsonschema.ValidationError
	for _, c := range causes {
		out = append(out, schemaLeaves(c)...)
	}
	return out
}

func withoutTypeErrors(causes []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	var kept []*jsonschema.ValidationError
	for _, c := range causes {
		if _, isType := deepKind(c).(*kind.Type); !isType {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return causes
	}
	return kept
}

// deepKind looks through $ref wrappers.
func deepKind(e *jsonschema.ValidationError) jsonschema.ErrorKind {
	for {
		if _, ok := e.ErrorKind.(*kind.Reference); ok && len(e.Causes) == 1 {
			e = e.Causes[0]
			continue
		}
		if _, ok := e.ErrorKind.(*kind.Group); ok && len(e.Causes) == 1 {
			e = e.Causes[0]
			continue
		}
		return e.ErrorKind
	}
}

func (p *parser) schemaProblems(e *jsonschema.ValidationError) []Problem {
	ptr := ""
	for _, tok := range e.InstanceLocation {
		ptr = joinPtr(ptr, tok)
	}
	const hint = "check the value against the topology file format"
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		var out []Problem
		for _, prop := range k.Properties {
			out = append(out, Problem{Pos: p.src.keyPos(joinPtr(ptr, prop)), Msg: fmt.Sprintf("unknown field %q", prop), Hint: hint})
		}
		return out
	case *kind.PropertyNames:
		return []Problem{{Pos: p.src.firstKey(k.Property), Msg: fmt.Sprintf("invalid name %q", k.Property), Hint: hint}}
	}
	msg := e.ErrorKind.LocalizedString(printer)
	if path := displayPath(ptr); path != "" {
		msg = path + ": " + msg
	}
	return []Problem{{Pos: p.src.pos(ptr), Msg: msg, Hint: hint}}
}

// normalizeJSON converts the indexed document to the value types the
// validator expects (json.Number for numbers).
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeJSON(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeJSON(e)
		}
	case int64:
		return json.Number(fmt.Sprint(x))
	case float64:
		return json.Number(fmt.Sprint(x))
	}
	return v
}

// firstKey is the position of the first mapping key spelled name. The
// validator reports property names without the location of their object.
func (s *source) firstKey(name string) Pos {
	suffix := joinPtr("", name)
	var best Pos
	for ptr, k := range s.keys {
		pos := s.nodePos(k)
		if strings.HasSuffix(ptr, suffix) && (best.Line == 0 || pos.Line < best.Line || pos.Line == best.Line && pos.Col < best.Col) {
			best = pos
		}
	}
	if best.Line == 0 {
		return s.pos("")
	}
	return best
}

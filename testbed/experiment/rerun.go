package experiment

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// Document returns the experiment file as it was read with its --set
// overrides applied, keys in the file's order and comments kept, so that
// running it again gives the same sweep order and seeds. When topology is
// not empty, a topology read from a file is referred to by that path
// instead (the run directory keeps a copy beside the document).
func (e *Experiment) Document(topology string) ([]byte, error) {
	p := &parser{file: e.File}
	root := p.document(e.data)
	if root == nil {
		return nil, p.result()
	}
	p.applySets(root, e.sets)
	if len(p.probs) > 0 {
		return nil, p.result()
	}
	if topology != "" && e.Topology.File != "" {
		ref := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: "file"},
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: topology},
		}}
		if err := setPath(root, "topology", ref); err != nil {
			return nil, fmt.Errorf("%s", err.msg)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

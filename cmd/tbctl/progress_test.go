package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProgressWithoutTerminalPrintsOneLinePerAction(t *testing.T) {
	var out strings.Builder
	p := &progress{w: &out}
	p.Start("create links", 3)
	p.Add(1)
	p.Add(2)
	p.End(nil)
	p.Start("run exec commands", 2)
	p.Add(1)
	p.End(errors.New("boom"))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	require.Regexp(t, `^create links\s+3/3\s+\S+s\s+ok$`, lines[0])
	require.Regexp(t, `^run exec commands\s+1/2\s+\S+s\s+FAILED$`, lines[1])
}

func TestQuietProgressPrintsNothing(t *testing.T) {
	var out strings.Builder
	p := &progress{w: &out, tty: true, quiet: true}
	p.Start("create links", 1)
	p.Add(1)
	p.End(nil)
	require.Empty(t, out.String())
}

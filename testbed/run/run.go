// Package run carries out experiments. For every sweep point and
// repetition it deploys a clean lab, starts the role instances in their
// order and waits for each to be ready, lets them run through warm-up and
// duration, stops them, collects what they wrote, destroys the lab, checks
// the experiment's expectations, and leaves a run directory with a manifest
// of hashes. It touches only the labs it deploys and the run directory.
package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tbctl/tbctl/testbed/experiment"
)

// Options say how to run an experiment.
type Options struct {
	Out      string   // root of run directories; "runs" by default
	Sets     []string // KEY=VALUE overrides
	Provider string   // overrides the experiment's and the topology's
	Keep     bool     // leave the last lab up
	Progress Progress // nil: no progress
}

// Progress hears where a run is.
type Progress interface {
	// Phase is called as a run enters a phase ("deploy", "start roles",
	// "warm-up", "measure", "stop", "destroy") of run i of n.
	Phase(i, n int, label, phase string, total time.Duration)
	Done(i, n int, label string, status string)
}

// Result is what a whole experiment run produced.
type Result struct {
	Dir     string
	Runs    []*Point
	Compare []Check
	Status  string // ok, failed (an expectation or a role failed), interrupted
}

// Status words of a run.
const (
	StatusOK          = "ok"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
)

// Experiment runs the experiment file at path. It returns an error for bad
// input (nothing is deployed then) or a broken environment; failed
// expectations are in the Result.
func Experiment(ctx context.Context, path string, o Options) (*Result, error) {
	sets := o.Sets
	if o.Provider != "" {
		// As if the experiment named it, for every sweep point.
		sets = append(append([]string(nil), sets...), "provider="+o.Provider)
	}
	exp, err := experiment.Load(path, sets)
	if err != nil {
		return nil, err
	}
	plans, err := PlanAll(exp)
	if err != nil {
		return nil, err
	}
	if o.Out == "" {
		o.Out = "runs"
	}
	id := newRunID()
	dir := filepath.Join(o.Out, exp.Name, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	res := &Result{Dir: dir, Status: StatusOK}
	man := newManifest(exp, id, path)
	if len(plans) > 0 {
		man.m.Provider = plans[0].Provider
	}
	if err := writeTopInputs(dir, exp); err != nil {
		return nil, fmt.Errorf("write the run's inputs: %w", err)
	}

	total := len(plans)
	release, err := provision(ctx, plans, dir, o.Progress)
	if err != nil {
		return nil, err
	}
	for i, pl := range plans {
		if ctx.Err() != nil {
			break
		}
		pl.Dir = filepath.Join(dir, pl.Subdir(total))
		pl.Lab = labName(exp.Name, id, i)
		keep := o.Keep && i == total-1
		pt := runPoint(ctx, pl, i+1, total, keep, o.Progress)
		res.Runs = append(res.Runs, pt)
		if o.Progress != nil {
			o.Progress.Done(i+1, total, pl.Label(), pt.Status)
		}
	}
	if err := release(); err != nil {
		return nil, fmt.Errorf("destroy the cloud hosts: %w (run `tbctl destroy --cloud %s`)", err, filepath.Join(dir, CloudDir))
	}
	res.Compare = compareAll(exp, res.Runs)
	res.Status = overall(ctx, res)
	man.finish(res)
	if err := writeIndex(dir, res); err != nil {
		return res, err
	}
	if err := man.write(dir); err != nil {
		return res, err
	}
	return res, nil
}

func overall(ctx context.Context, res *Result) string {
	if ctx.Err() != nil {
		return StatusInterrupted
	}
	for _, p := range res.Runs {
		if p.Status != StatusOK {
			return StatusFailed
		}
	}
	for _, c := range res.Compare {
		if !c.OK {
			return StatusFailed
		}
	}
	return StatusOK
}

// newRunID names a run by its UTC start time and a random suffix, so runs
// sort by time and never collide.
func newRunID() string {
	var b [2]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// labName is the lab of run i: short, unique, and recognisable.
func labName(exp, id string, i int) string {
	short := exp
	if len(short) > 20 {
		short = short[:20]
	}
	short = strings.TrimRight(short, "-_.")
	return fmt.Sprintf("%s-%s-%d", short, id[len(id)-4:], i)
}

// writeTopInputs puts at the top of the run directory what reruns the
// whole experiment: experiment.yaml and, when the topology came from a
// file, that file as topology.yaml, byte for byte.
func writeTopInputs(dir string, exp *experiment.Experiment) error {
	if exp.Topology.File != "" {
		data, err := os.ReadFile(exp.Topology.File)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "topology.yaml"), data, 0o644); err != nil {
			return err
		}
	}
	return writeExperiment(dir, exp)
}

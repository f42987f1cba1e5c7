package roles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Instance says which instance to run and where it reports; the runner
// fills it and `tbctl role run` carries it across the process boundary.
type Instance struct {
	Role     string         `json:"role"`
	Lab      string         `json:"lab"`
	Node     string         `json:"node"`
	Instance string         `json:"instance"`
	Dir      string         `json:"dir"`
	Seed     int64          `json:"seed"`
	Params   map[string]any `json:"params"` // node references already resolved
	// MetricsAddr is host:port for the Prometheus endpoint ("" for none).
	MetricsAddr string `json:"metricsAddr,omitempty"`
}

// Exit status words written in the "exit" event and read by the runner.
const (
	ExitOK      = "ok"      // the role finished its work
	ExitStopped = "stopped" // the runner stopped it (SIGTERM)
	ExitFailed  = "failed"  // the role returned an error
)

// Serve runs one instance in this process until its work is done or ctx
// ends (SIGTERM), calling ready once the role says it is ready. It returns
// the role's error.
func Serve(ctx context.Context, in Instance, ready func()) error {
	r, err := Get(in.Role)
	if err != nil {
		return err
	}
	params, err := r.Decode(in.Params, "params")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(in.Dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(in.Dir, "events.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	env := &Env{
		Lab: in.Lab, Node: in.Node, Instance: in.Instance, Role: in.Role, Dir: in.Dir, Seed: in.Seed,
		Events:  NewEventLog(f, map[string]any{"instance": in.Instance, "node": in.Node, "role": in.Role}),
		Metrics: prometheus.NewRegistry(),
		ready:   ready,
	}
	env.Events.Emit("start", map[string]any{"params": in.Params, "pid": os.Getpid()})
	if in.MetricsAddr != "" {
		// Metrics are measurement, not the experiment: an address that is
		// taken (a host's own namespace is shared) costs the metrics only.
		stop, err := serveMetrics(in.MetricsAddr, env.Metrics)
		if err != nil {
			env.Events.Emit("metrics-unavailable", map[string]any{"addr": in.MetricsAddr, "error": err.Error()})
			fmt.Fprintf(os.Stderr, "metrics: %v; the instance runs without its metrics endpoint\n", err)
		} else {
			defer stop()
		}
	}
	err = r.Run(ctx, env, params)
	status := ExitOK
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		status, err = ExitStopped, nil
	case err != nil:
		status = ExitFailed
	case ctx.Err() != nil:
		status = ExitStopped
	}
	fields := map[string]any{"status": status}
	if err != nil {
		fields["error"] = err.Error()
	}
	env.Events.Emit("exit", fields)
	return err
}

// serveMetrics serves reg at http://addr/metrics.
func serveMetrics(addr string, reg *prometheus.Registry) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}

// WriteJSON writes v as indented JSON to name inside the instance's
// directory (for example the role's summary.json).
func (e *Env) WriteJSON(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(e.Dir, name), append(data, '\n'), 0o644)
}

// Create opens a file in the instance's directory for writing.
func (e *Env) Create(name string) (*os.File, error) {
	return os.Create(filepath.Join(e.Dir, name))
}

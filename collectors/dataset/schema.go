package dataset

import (
	"reflect"
	"slices"
	"strings"
)

// SchemaVersion is the version of the tables' layout. It is recorded in
// dataset.json and in every Parquet file's key/value metadata; a dataset of
// another version is refused rather than mixed.
const SchemaVersion = 1

// Keys of the key/value metadata of every Parquet file.
const (
	MetaSchema     = "tbctl.dataset.schema"     // SchemaVersion, as a decimal string
	MetaTable      = "tbctl.dataset.table"      // runs, faults, metrics or events
	MetaTool       = "tbctl.dataset.tool"       // the tbctl version that wrote the file
	MetaRunID      = "tbctl.dataset.run_id"     // the run directory the rows come from
	MetaAnonymized = "tbctl.dataset.anonymized" // "no", "addresses" or "addresses,names"
)

// Table names.
const (
	TableRuns    = "runs"
	TableFaults  = "faults"
	TableMetrics = "metrics"
	TableEvents  = "events"
)

// Nullable columns: pointers, and int64 columns tagged optional, where the
// zero value is written as null (no monotonic or wall time is ever 0).
//
// Times: every *_mono_ns and mono_ns column is on the host's monotonic clock
// (CLOCK_MONOTONIC, ns), the clock the run's events and samples were stamped
// with; *_time and time columns are wall-clock timestamps (UTC, ns); t_s and
// *_s columns are seconds since the run's measure-start event, negative
// before it, null when the run has none.

// RunRow is one row of the runs table: one run of a sweep (a sweep point
// and a repetition).
type RunRow struct {
	RunKey       string `parquet:"run_key,dict" doc:"dataset-wide key of the run: <run_id>/pNN-rNN (sweep point + 1, repetition); joins every table"`
	RunID        string `parquet:"run_id,dict" doc:"id of the run directory (manifest runId) the run belongs to; one run directory holds every run of a sweep"`
	Experiment   string `parquet:"experiment,dict" doc:"experiment name"`
	Claim        string `parquet:"claim,dict" doc:"the experiment's claim, as written in it"`
	Point        int32  `parquet:"point" doc:"sweep point, 0-based"`
	Label        string `parquet:"label,dict" doc:"sweep point label, e.g. streams=4,cc=reno (\"run\" without a sweep)"`
	SweepValues  string `parquet:"sweep_values" dataset:"json" doc:"JSON object: the swept parameters and their values at this point ({} without a sweep)"`
	Rep          int32  `parquet:"rep" doc:"repetition, 1-based"`
	Seed         int64  `parquet:"seed" doc:"the run's seed (roles and chaos schedules draw from it)"`
	Status       string `parquet:"status,dict" doc:"how the run ended: ok or failed"`
	Error        string `parquet:"error" doc:"why it failed; empty when ok"`
	ChecksTotal  int32  `parquet:"checks_total" doc:"number of the experiment's expectations checked"`
	ChecksFailed int32  `parquet:"checks_failed" doc:"number of them that did not hold"`
	SourceDir    string `parquet:"source_dir" doc:"folder of the run inside its run directory (. for a single run)"`
	Provider     string `parquet:"provider,dict" doc:"lab provider (netns, ...)"`
	ToolVersion  string `parquet:"tool_version,dict" doc:"version of the tbctl that ran it"`
	ToolRevision string `parquet:"tool_revision,dict" doc:"VCS revision of that tbctl"`
	ToolModified bool   `parquet:"tool_modified" doc:"true when that tbctl was built from a modified tree"`
	Host         string `parquet:"host,dict" doc:"host name of the machine it ran on"`
	Kernel       string `parquet:"kernel,dict" doc:"kernel release"`
	OS           string `parquet:"os,dict" doc:"operating system"`
	Arch         string `parquet:"arch,dict" doc:"CPU architecture"`
	CPU          string `parquet:"cpu,dict" doc:"CPU model"`
	CPUs         int32  `parquet:"cpus" doc:"logical CPUs"`
	MemoryKB     int64  `parquet:"memory_kb" doc:"memory, KiB"`
	StartTime    int64  `parquet:"start_time,optional,timestamp(nanosecond)" doc:"wall time the run started (lab deploy)"`
	EndTime      int64  `parquet:"end_time,optional,timestamp(nanosecond)" doc:"wall time the run ended (lab destroyed)"`
	MeasureStart int64  `parquet:"measure_start_mono_ns,optional" doc:"monotonic time the measured window began (the origin of every t_s); null when the run never got there"`
	MeasureEnd   int64  `parquet:"measure_end_mono_ns,optional" doc:"monotonic time the measured window ended; null when it did not"`
}

// FaultRow is one row of the faults table: one fault injected during a run,
// the ground truth of what was done and when.
type FaultRow struct {
	RunKey         string   `parquet:"run_key,dict" doc:"the run (runs.run_key)"`
	ID             string   `parquet:"id" doc:"fault id within the run (f1, f2, ...); empty when it failed before it got one"`
	Name           string   `parquet:"name,dict" doc:"name given to it in the experiment (empty for chaos draws without one)"`
	Code           string   `parquet:"code,dict" doc:"taxonomy code from tbctl's fault catalogue, e.g. net.loss"`
	Family         string   `parquet:"family,dict" doc:"taxonomy family: the part of the code before the dot (net, node, host, switch, role)"`
	Target         string   `parquet:"target" doc:"what it was applied to: node, node:interface, link end or node sets (a,b|c)"`
	Params         string   `parquet:"params" dataset:"json" doc:"JSON object: the fault's parameters, as strings"`
	Mechanism      string   `parquet:"mechanism,dict" doc:"how the kernel was made to do it (tbf, nftables, SIGSTOP, ...)"`
	Verified       bool     `parquet:"verified" doc:"true when reading the state back after applying it confirmed it"`
	RevertVerified *bool    `parquet:"revert_verified,optional" doc:"true when reading back after reverting confirmed it was gone; null when it was never reverted"`
	State          string   `parquet:"state,dict" doc:"final state: reverted, active, failed, ..."`
	Detail         string   `parquet:"detail" doc:"what verification read back when it was applied"`
	Error          string   `parquet:"error" doc:"why it failed; empty otherwise"`
	StartMono      int64    `parquet:"start_mono_ns,optional" doc:"monotonic time it took effect (its fault-applied event); null when it never did"`
	EndMono        int64    `parquet:"end_mono_ns,optional" doc:"monotonic time it was reverted (its fault-reverted event); null when never reverted"`
	StartS         *float64 `parquet:"start_s,optional" doc:"start_mono_ns in seconds since measure-start"`
	EndS           *float64 `parquet:"end_s,optional" doc:"end_mono_ns in seconds since measure-start"`
	StartTime      int64    `parquet:"start_time,optional,timestamp(nanosecond)" doc:"wall time of the fault-applied event"`
	EndTime        int64    `parquet:"end_time,optional,timestamp(nanosecond)" doc:"wall time of the fault-reverted event"`
}

// MetricRow is one row of the metrics table, in long format: one number of
// one object at one time. It holds the collectors' samples (metrics.jsonl)
// and every role instance's series (series.jsonl, source "role").
type MetricRow struct {
	RunKey string   `parquet:"run_key,dict" doc:"the run (runs.run_key)"`
	MonoNS int64    `parquet:"mono_ns,optional,delta" doc:"monotonic time of the sample; for role series, the instance's start event plus the series' t_s; null when that start is unknown"`
	Time   int64    `parquet:"time,optional,timestamp(nanosecond),delta" doc:"wall time of the sample"`
	TS     *float64 `parquet:"t_s,optional" doc:"seconds since measure-start"`
	Source string   `parquet:"source,dict" doc:"who measured it: a collector (netdev, cgroup, qdisc, prom, ...) or role (a role instance's own series)"`
	Node   string   `parquet:"node,dict" doc:"node the object is on"`
	Object string   `parquet:"object,dict" doc:"what was measured: an interface, cgroup, qdisc, ...; for source role, the role instance"`
	Metric string   `parquet:"metric,dict" doc:"metric name; for source role, the series key (mbps, p50_ms, ...)"`
	Value  float64  `parquet:"value" doc:"the value (counters are cumulative as read)"`
}

// EventRow is one row of the events table: one line of the run's timeline
// (runner phases, role events, faults, ...).
type EventRow struct {
	RunKey   string   `parquet:"run_key,dict" doc:"the run (runs.run_key)"`
	MonoNS   int64    `parquet:"mono_ns,optional,delta" doc:"monotonic time of the event"`
	Time     int64    `parquet:"time,optional,timestamp(nanosecond)" doc:"wall time of the event"`
	TS       *float64 `parquet:"t_s,optional" doc:"seconds since measure-start"`
	Source   string   `parquet:"source,dict" doc:"who emitted it: runner or role"`
	Event    string   `parquet:"event,dict" doc:"event type: phase, role-start, measure-start, fault-applied, ready, done, exit, ..."`
	Instance string   `parquet:"instance,dict" doc:"role instance it concerns; empty for the runner's own events"`
	Node     string   `parquet:"node,dict" doc:"node it concerns; empty when none"`
	Fields   string   `parquet:"fields" dataset:"json" doc:"JSON object: every other field of the event, numbers exact"`
}

// Column describes one column of a table.
type Column struct {
	Name    string
	Type    string // string, int32, int64, double, bool, timestamp[ns, UTC]; "(JSON)" and "nullable" noted
	Meaning string
}

// Table describes one table of a dataset.
type Table struct {
	Name    string
	Summary string
	Columns []Column
	rowType reflect.Type
}

// Tables returns the tables of a dataset with their columns, in the order
// they are written. The columns come from the row types' struct tags, so
// the datasheet and the CSV export never disagree with the Parquet files.
func Tables() []Table {
	ts := []Table{
		{Name: TableRuns, Summary: "one row per run of a sweep (sweep point × repetition)", rowType: reflect.TypeFor[RunRow]()},
		{Name: TableFaults, Summary: "one row per fault injected, with its exact window", rowType: reflect.TypeFor[FaultRow]()},
		{Name: TableMetrics, Summary: "every sample, long format: the collectors' metrics.jsonl and the role instances' series.jsonl", rowType: reflect.TypeFor[MetricRow]()},
		{Name: TableEvents, Summary: "every event of each run's timeline (events.jsonl)", rowType: reflect.TypeFor[EventRow]()},
	}
	for i := range ts {
		ts[i].Columns = columnsOf(ts[i].rowType)
	}
	return ts
}

// TableNames lists the tables' names.
func TableNames() []string {
	return []string{TableRuns, TableFaults, TableMetrics, TableEvents}
}

// columnsOf lists a row type's columns from its struct tags.
func columnsOf(t reflect.Type) []Column {
	var out []Column
	for f := range t.Fields() {
		tag := f.Tag.Get("parquet")
		opts := strings.Split(tag, ",")
		c := Column{Name: opts[0], Meaning: f.Tag.Get("doc")}
		ft := f.Type
		nullable := ft.Kind() == reflect.Pointer || slices.Contains(opts[1:], "optional")
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch ft.Kind() {
		case reflect.String:
			c.Type = "string"
			if f.Tag.Get("dataset") == "json" {
				c.Type = "string (JSON)"
			}
		case reflect.Int32:
			c.Type = "int32"
		case reflect.Int64:
			c.Type = "int64"
			for _, o := range opts[1:] {
				if strings.HasPrefix(o, "timestamp") {
					c.Type = "timestamp[ns, UTC]"
				}
			}
		case reflect.Float64:
			c.Type = "double"
		case reflect.Bool:
			c.Type = "bool"
		default:
			panic("dataset: column " + c.Name + " has an unexpected type " + ft.String())
		}
		if nullable {
			c.Type += ", nullable"
		}
		out = append(out, c)
	}
	return out
}

func isTimestamp(f reflect.StructField) bool {
	return strings.Contains(f.Tag.Get("parquet"), ",timestamp(")
}

func isOptional(f reflect.StructField) bool {
	return slices.Contains(strings.Split(f.Tag.Get("parquet"), ",")[1:], "optional")
}

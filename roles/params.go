package roles

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/tbctl/tbctl/internal/suggest"
)

// Param describes one parameter of a role.
type Param struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Default string `json:"default"`
	Help    string `json:"help"`
	Ref     bool   `json:"ref,omitempty"` // names a node; resolved to an address
}

// Describe lists a role's parameters in declaration order.
func (r *Role) Describe() []Param {
	v := reflect.ValueOf(r.Params()).Elem()
	var out []Param
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		name := f.Tag.Get("param")
		if name == "" || !f.IsExported() {
			continue
		}
		out = append(out, Param{Name: name, Type: typeName(f.Type), Default: formatValue(v.Field(i)), Help: f.Tag.Get("help"), Ref: f.Tag.Get("ref") == "node"})
	}
	return out
}

// RefParams returns the names of parameters that name nodes.
func (r *Role) RefParams() []string {
	var out []string
	for _, p := range r.Describe() {
		if p.Ref {
			out = append(out, p.Name)
		}
	}
	return out
}

var durationType = reflect.TypeOf(time.Duration(0))

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return "integer"
	}
	return t.Kind().String()
}

func formatValue(v reflect.Value) string {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	if v.Kind() == reflect.Slice {
		var parts []string
		for i := 0; i < v.Len(); i++ {
			parts = append(parts, formatValue(v.Index(i)))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	if v.Kind() == reflect.String {
		return fmt.Sprintf("%q", v.String())
	}
	return fmt.Sprint(v.Interface())
}

// ParamError is a bad parameter: Path is where it was written, such as
// "roles.client.params.streams".
type ParamError struct {
	Path string
	Msg  string
}

func (e *ParamError) Error() string { return e.Path + ": " + e.Msg }

// ParamErrors is every bad parameter of one instance.
type ParamErrors []*ParamError

func (e ParamErrors) Error() string {
	var lines []string
	for _, p := range e {
		lines = append(lines, p.Error())
	}
	return strings.Join(lines, "\n")
}

// Decode fills a fresh parameter struct from raw values (as decoded from
// YAML or JSON), strictly: unknown names and ill-typed values are errors
// naming path.NAME. Defaults stay where raw says nothing.
func (r *Role) Decode(raw map[string]any, path string) (any, error) {
	params := r.Params()
	v := reflect.ValueOf(params).Elem()
	fields := map[string]int{}
	var names []string
	for i := 0; i < v.NumField(); i++ {
		if name := v.Type().Field(i).Tag.Get("param"); name != "" {
			fields[name] = i
			names = append(names, name)
		}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs ParamErrors
	for _, k := range keys {
		p := path + "." + k
		i, ok := fields[k]
		if !ok {
			msg := fmt.Sprintf("role %s has no parameter %q", r.Name, k)
			if s := suggest.Closest(k, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += fmt.Sprintf(" (parameters: %s)", strings.Join(names, ", "))
			}
			errs = append(errs, &ParamError{p, msg})
			continue
		}
		if err := setValue(v.Field(i), raw[k]); err != nil {
			errs = append(errs, &ParamError{p, err.Error()})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return params, nil
}

// setValue converts one raw value into a field's type.
func setValue(f reflect.Value, raw any) error {
	if f.Type() == durationType {
		switch x := raw.(type) {
		case string:
			d, err := time.ParseDuration(x)
			if err != nil {
				return fmt.Errorf("want a duration such as 10s or 250ms, got %q", x)
			}
			f.SetInt(int64(d))
			return nil
		default:
			return fmt.Errorf("want a duration such as 10s or 250ms, got %v", raw)
		}
	}
	switch f.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			return fmt.Errorf("want a string, got %v", raw)
		}
		f.SetString(s)
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			return fmt.Errorf("want true or false, got %v", raw)
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := asNumber(raw)
		if !ok || n != float64(int64(n)) {
			return fmt.Errorf("want an integer, got %v", raw)
		}
		f.SetInt(int64(n))
	case reflect.Float64:
		n, ok := asNumber(raw)
		if !ok {
			return fmt.Errorf("want a number, got %v", raw)
		}
		f.SetFloat(n)
	case reflect.Slice:
		list, ok := raw.([]any)
		if !ok {
			return fmt.Errorf("want a list, got %v", raw)
		}
		s := reflect.MakeSlice(f.Type(), len(list), len(list))
		for i, x := range list {
			if err := setValue(s.Index(i), x); err != nil {
				return fmt.Errorf("item %d: %v", i, err)
			}
		}
		f.Set(s)
	default:
		return fmt.Errorf("unsupported parameter type %s", f.Type())
	}
	return nil
}

func asNumber(raw any) (float64, bool) {
	switch x := raw.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

package mcp

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/semvec-go/semvec/actors/engine"
)

// closedSet returns the values of a REST field ("Type.wire_name") that a
// handler checks itself rather than by a binding rule (an entity's kind,
// answered 400 otherwise), or nil.
func closedSet(field string) []string {
	if field == "EntityBody.kind" {
		return engine.EntityKinds()
	}
	return nil
}

// inputSchema is the input schema of a tool whose arguments are In and whose
// REST request is rest: the zero value of its body (a type of package api
// with json tags) or query (form tags), or nil. The SDK infers the schema
// from In (a field without omitempty is required); then each argument named
// as a field of rest gets that field's constraints, taken from the binding
// tags REST validates with, so the tool refuses what REST would refuse with
// a 422 and tools/list says so, as /openapi.json does: gte, lte, gt, lt
// become minimum, maximum, exclusiveMinimum, exclusiveMaximum; oneof an
// enum; a string's max and min, required and notblank its maxLength and
// minLength; rules after dive (a list's elements) are not an argument's.
//
// An optional argument may be null, meaning left out, where REST takes null
// for it: a body field tagged nullable (package api), a query parameter (a
// query has no null: leaving it out is its only "none") and an argument of
// the tool's own. An optional body field that REST refuses null for (one
// with a default value: reset_context, tier, importance) refuses null here
// too, and so does every required argument.
func inputSchema[In any](rest any) (*jsonschema.Schema, error) {
	s, err := jsonschema.For[In](nil)
	if err != nil {
		return nil, err
	}
	fields := map[string]reflect.StructField{}
	var restType reflect.Type
	if rest != nil {
		restType = reflect.TypeOf(rest)
		for i := range restType.NumField() {
			if f := restType.Field(i); f.IsExported() {
				if name := wireName(f); name != "" {
					fields[name] = f
				}
			}
		}
	}
	for name, p := range s.Properties {
		typ := p.Type
		if typ == "" { // a pointer: ["null", T]
			for _, t := range p.Types {
				if t != "null" {
					typ = t
				}
			}
		}
		f, ok := fields[name]
		nullable := !slices.Contains(s.Required, name) &&
			(!ok || f.Tag.Get("json") == "" || f.Tag.Get("nullable") == "true")
		if ok {
			if err := constrain(p, typ, f.Tag.Get("binding")); err != nil {
				return nil, fmt.Errorf("%s.%s: %w", restType.Name(), name, err)
			}
			if set := closedSet(restType.Name() + "." + name); set != nil {
				p.Enum = nil
				for _, v := range set {
					p.Enum = append(p.Enum, v)
				}
			}
		}
		if nullable {
			p.Type, p.Types = "", []string{"null", typ}
			if p.Enum != nil {
				p.Enum = append(p.Enum, nil)
			}
		} else {
			p.Type, p.Types = typ, nil
		}
	}
	return s, nil
}

// wireName is a REST field's name on the wire: its json name, or for a
// query its form name.
func wireName(f reflect.StructField) string {
	for _, key := range []string{"json", "form"} {
		if name, _, _ := strings.Cut(f.Tag.Get(key), ","); name != "" {
			if name == "-" {
				return ""
			}
			return name
		}
	}
	return ""
}

// constrain sets schema p, of JSON type typ, from binding rules (see
// inputSchema).
func constrain(p *jsonschema.Schema, typ, binding string) error {
	for _, rule := range strings.Split(binding, ",") {
		k, v, _ := strings.Cut(rule, "=")
		var n float64
		switch k {
		case "gte", "lte", "gt", "lt", "max", "min":
			var err error
			if n, err = strconv.ParseFloat(v, 64); err != nil {
				return fmt.Errorf("binding rule %q: %w", rule, err)
			}
		}
		switch k {
		case "dive":
			return nil
		case "gte":
			p.Minimum = &n
		case "lte":
			p.Maximum = &n
		case "gt":
			p.ExclusiveMinimum = &n
		case "lt":
			p.ExclusiveMaximum = &n
		case "oneof":
			for _, e := range strings.Fields(v) {
				p.Enum = append(p.Enum, e)
			}
		case "required", "notblank":
			if typ == "string" {
				p.MinLength = ptr(max(deref(p.MinLength), 1))
			}
		case "max", "min":
			switch {
			case typ == "string" && k == "max":
				p.MaxLength = ptr(int(n))
			case typ == "string":
				p.MinLength = ptr(int(n))
			case (typ == "integer" || typ == "number") && k == "max":
				p.Maximum = &n
			case typ == "integer" || typ == "number":
				p.Minimum = &n
			}
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

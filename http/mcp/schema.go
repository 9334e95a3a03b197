package mcp

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/semvec-go/semvec/actors/engine"
	"github.com/semvec-go/semvec/http/api"
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
// a 422 and tools/list says so, as /openapi.json does (both read the rules
// with api.ConstraintsOf).
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
			c, err := api.ConstraintsOf(f.Type, f.Tag.Get("binding"))
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", restType.Name(), name, err)
			}
			constrain(p, c)
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

// constrain sets schema p from the constraints of a REST field (see
// inputSchema and api.ConstraintsOf), its elements' too where p has items.
func constrain(p *jsonschema.Schema, c api.Constraints) {
	p.MinLength, p.MaxLength = c.MinLength, c.MaxLength
	p.MinItems, p.MaxItems = c.MinItems, c.MaxItems
	if c.ExclusiveMinimum {
		p.ExclusiveMinimum = c.Minimum
	} else {
		p.Minimum = c.Minimum
	}
	if c.ExclusiveMaximum {
		p.ExclusiveMaximum = c.Maximum
	} else {
		p.Maximum = c.Maximum
	}
	for _, e := range c.Enum {
		p.Enum = append(p.Enum, e)
	}
	// notblank's pattern (\S) is left to REST: its 422 says "must not be
	// blank", where the SDK's schema check would answer a regular
	// expression.
	if c.NoNUL {
		p.Pattern = api.NoNULPattern
	}
	if c.Items != nil && p.Items != nil {
		constrain(p.Items, *c.Items)
	}
}

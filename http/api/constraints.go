package api

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Constraints is what a field's binding rules ask of its value, in the
// terms of a JSON schema: the one reading of the rules that both schema
// generators use (the server's /openapi.json and its MCP tools'
// inputSchema), so that the two describe what REST validates alike.
// A nil bound is no bound.
type Constraints struct {
	// Required: the field must be present ("required"; for a string, not a
	// pointer to one, also not empty, as the validator reads it).
	Required bool
	// Minimum and Maximum bound a number; ExclusiveMinimum and
	// ExclusiveMaximum say whether the bound itself is refused (gt, lt).
	Minimum, Maximum                   *float64
	ExclusiveMinimum, ExclusiveMaximum bool
	// MinLength and MaxLength bound a string's length in characters.
	MinLength, MaxLength *int
	// MinItems and MaxItems bound a list's (or map's) length.
	MinItems, MaxItems *int
	// Enum lists a string's allowed values (oneof).
	Enum []string
	// NoNUL: the string holds no U+0000 (nonul, a rule of this server).
	NoNUL bool
	// NotBlank: the string holds something other than white space
	// (notblank).
	NotBlank bool
	// Items holds the rules after dive: each element's, or nil.
	Items *Constraints
}

// NoNULPattern is the schema pattern of the rule nonul (RE2 and ECMA-262
// alike): no U+0000.
const NoNULPattern = `^[^\u0000]*$`

// NotBlankPattern is the schema pattern of the rule notblank: a character
// other than white space somewhere (a pattern is searched, not anchored).
const NotBlankPattern = `\S`

// Pattern is the schema pattern c asks for, or "" (a field has at most one
// of the rules that make one).
func (c Constraints) Pattern() string {
	switch {
	case c.NoNUL:
		return NoNULPattern
	case c.NotBlank:
		return NotBlankPattern
	}
	return ""
}

// ConstraintsOf reads binding rules for a field of Go type t (a pointer's
// element type is what is bound). As the validator does, min, max, len, gt,
// gte, lt and lte bound a string's length, a list's or map's number of
// elements and a number's value; dive passes the rules after it to the
// elements. A rule it does not know, or a bound it cannot read, is an error
// rather than a constraint silently dropped; omitempty (validate only when
// set) constrains nothing a schema says.
func ConstraintsOf(t reflect.Type, binding string) (Constraints, error) {
	var c Constraints
	if binding == "" {
		return c, nil
	}
	pointer := t.Kind() == reflect.Pointer
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	rules := strings.Split(binding, ",")
	for i, rule := range rules {
		k, v, _ := strings.Cut(rule, "=")
		switch k {
		case "omitempty":
		case "required":
			c.Required = true
			if t.Kind() == reflect.String && !pointer { // a pointer to "" is set
				c.MinLength = atLeast(c.MinLength, 1)
			}
		case "notblank":
			c.MinLength = atLeast(c.MinLength, 1)
			c.NotBlank = true
		case "nonul":
			c.NoNUL = true
		case "oneof":
			c.Enum = append(c.Enum, strings.Fields(v)...)
		case "dive":
			switch t.Kind() {
			case reflect.Slice, reflect.Array, reflect.Map:
			default:
				return c, fmt.Errorf("binding rule dive on a %s", t.Kind())
			}
			items, err := ConstraintsOf(t.Elem(), strings.Join(rules[i+1:], ","))
			if err != nil {
				return c, err
			}
			c.Items = &items
			return c, nil
		case "min", "max", "len", "gt", "gte", "lt", "lte":
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
				return c, fmt.Errorf("binding rule %q: not a number", rule)
			}
			c.bound(t.Kind(), k, n)
		default:
			return c, fmt.Errorf("binding rule %q: unknown to the schema generators", rule)
		}
	}
	return c, nil
}

// bound records rule k (min, max, len, gt, gte, lt, lte) with argument n
// for a value of kind kind.
func (c *Constraints) bound(kind reflect.Kind, k string, n float64) {
	switch kind {
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map:
		lo, hi := &c.MinLength, &c.MaxLength
		if kind != reflect.String {
			lo, hi = &c.MinItems, &c.MaxItems
		}
		// a length is whole: gt=2 is at least 3, lt=5 at most 4
		switch k {
		case "min", "gte":
			*lo = ptr(int(math.Ceil(n)))
		case "gt":
			*lo = ptr(int(math.Floor(n)) + 1)
		case "max", "lte":
			*hi = ptr(int(math.Floor(n)))
		case "lt":
			*hi = ptr(int(math.Ceil(n)) - 1)
		case "len":
			*lo, *hi = ptr(int(n)), ptr(int(n))
		}
	default: // a number
		switch k {
		case "min", "gte":
			c.Minimum, c.ExclusiveMinimum = &n, false
		case "gt":
			c.Minimum, c.ExclusiveMinimum = &n, true
		case "max", "lte":
			c.Maximum, c.ExclusiveMaximum = &n, false
		case "lt":
			c.Maximum, c.ExclusiveMaximum = &n, true
		case "len":
			c.Minimum, c.Maximum = &n, ptr(n)
			c.ExclusiveMinimum, c.ExclusiveMaximum = false, false
		}
	}
}

// atLeast is bound p raised to n.
func atLeast(p *int, n int) *int {
	if p != nil && *p >= n {
		return p
	}
	return &n
}

func ptr[T any](v T) *T { return &v }

package api

import (
	"reflect"
	"testing"
)

// ConstraintsOf reads binding rules as the validator applies them: by the
// field's kind, a pointer's element's, and the rules after dive for the
// elements.
func TestConstraintsOfReadsRulesByKind(t *testing.T) {
	var (
		str    = reflect.TypeFor[string]()
		strPtr = reflect.TypeFor[*string]()
		num    = reflect.TypeFor[*float64]()
		list   = reflect.TypeFor[[]string]()
		matrix = reflect.TypeFor[[][]float32]()
	)
	n := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	for _, tc := range []struct {
		t       reflect.Type
		binding string
		want    Constraints
	}{
		{str, "", Constraints{}},
		{str, "required,max=256,nonul", Constraints{Required: true, MinLength: i(1), MaxLength: i(256), NoNUL: true}},
		{strPtr, "required", Constraints{Required: true}}, // a pointer to "" is set
		{str, "omitempty,gt=2,lt=5", Constraints{MinLength: i(3), MaxLength: i(4)}},
		{str, "len=3", Constraints{MinLength: i(3), MaxLength: i(3)}},
		{str, "notblank,min=4", Constraints{MinLength: i(4), NotBlank: true}},
		{str, "min=4,notblank", Constraints{MinLength: i(4), NotBlank: true}},
		{str, "oneof=a b c", Constraints{Enum: []string{"a", "b", "c"}}},
		{num, "omitempty,gt=0,lte=1", Constraints{Minimum: n(0), ExclusiveMinimum: true, Maximum: n(1)}},
		{num, "gte=-1,lt=1", Constraints{Minimum: n(-1), Maximum: n(1), ExclusiveMaximum: true}},
		{num, "min=1,max=10", Constraints{Minimum: n(1), Maximum: n(10)}},
		{list, "max=1000,dive,max=128", Constraints{MaxItems: i(1000), Items: &Constraints{MaxLength: i(128)}}},
		{list, "omitempty,min=1,dive", Constraints{MinItems: i(1), Items: &Constraints{}}},
		{matrix, "required,min=1,max=256", Constraints{Required: true, MinItems: i(1), MaxItems: i(256)}},
		{matrix, "dive,len=3,dive,gte=0", Constraints{Items: &Constraints{MinItems: i(3), MaxItems: i(3), Items: &Constraints{Minimum: n(0)}}}},
	} {
		got, err := ConstraintsOf(tc.t, tc.binding)
		if err != nil {
			t.Errorf("%s %q: %v", tc.t, tc.binding, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %q:\n got %+v\nwant %+v", tc.t, tc.binding, got, tc.want)
		}
	}
}

// A rule the generators cannot read is an error, not a constraint dropped.
func TestConstraintsOfRefusesWhatItCannotRead(t *testing.T) {
	for _, tc := range []struct {
		t       reflect.Type
		binding string
	}{
		{reflect.TypeFor[int](), "lte=ten"},
		{reflect.TypeFor[float64](), "gt=NaN"},
		{reflect.TypeFor[string](), "email"},
		{reflect.TypeFor[string](), "dive,max=3"},
		{reflect.TypeFor[[]string](), "dive,startswith=x"},
	} {
		if c, err := ConstraintsOf(tc.t, tc.binding); err == nil {
			t.Errorf("%s %q accepted: %+v", tc.t, tc.binding, c)
		}
	}
}

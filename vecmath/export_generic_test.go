//go:build !amd64 || purego

package vecmath

import "unsafe"

func simdEnabled() bool { return false }

func uintptrOf(v []float32) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(v))) }

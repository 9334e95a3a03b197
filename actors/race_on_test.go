//go:build race

package actors

// raceDetector: the tests run with -race (a measurement's figures mean
// nothing then).
const raceDetector = true

package persistence_test

import (
	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/http"
	"github.com/semvec-go/semvec/persistence"
)

// The store satisfies the interfaces its users declare.
var (
	_ actors.SessionStore       = (*persistence.Store)(nil)
	_ actors.SnapshotBatchSaver = (*persistence.Store)(nil)
	_ actors.LayerStore         = (*persistence.Store)(nil)
	_ http.Pinger               = (*persistence.Store)(nil)
)

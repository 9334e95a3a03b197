package persistence

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/semvec-go/semvec"
)

// fileGuard watches the SQLite database file a Store opened. A file removed
// (or replaced by another, renamed over it) while the server has it open is
// not noticed by SQLite: its connections keep writing to the old file,
// which no longer has a name and is gone once the process ends, so every
// change committed after the removal was answered 2xx and lost on restart
// (a new, empty database took its place). Once the guard sees the path no
// longer names the file it opened, the Store refuses every operation as
// unavailable (503 with Retry-After; /v1/readyz reports the database
// unavailable) and a commit that ran meanwhile is answered as a failed one
// (its outcome unknown, as any 503 to a change): nothing is acknowledged
// that a restart would not find. The condition is final: the server must be
// restarted (after restoring the file, if it was removed by mistake).
//
// A commit checks the path once it is done (one stat), so a removal is
// seen by the first change committed after it; the removal racing a commit
// in flight is the only window.
type fileGuard struct {
	path string
	info os.FileInfo
	lost atomic.Bool
	log  *slog.Logger
}

// newFileGuard watches the file at path as it is now (nil, and no guard,
// when it cannot be read).
func newFileGuard(path string, log *slog.Logger) *fileGuard {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil
	}
	return &fileGuard{path: abs, info: info, log: log}
}

// lostErr is the error of every operation once the file is lost (nil
// before, or without a guard). It reads no file.
func (g *fileGuard) lostErr() error {
	if g == nil || !g.lost.Load() {
		return nil
	}
	return semvec.Errorf(semvec.KindUnavailable,
		"the SQLite database file %s was removed or replaced while this server had it open: nothing more is written; restart the server", g.path)
}

// check looks at the path: the file it opened still there (nil), or lost
// (lostErr, from now on). A stat that fails otherwise (permissions) says
// nothing about the file and is not held against it.
func (g *fileGuard) check() error {
	if g == nil {
		return nil
	}
	if !g.lost.Load() {
		info, err := os.Stat(g.path)
		switch {
		case err == nil && os.SameFile(info, g.info):
			return nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return nil
		}
		if g.lost.CompareAndSwap(false, true) {
			g.log.Error("the SQLite database file was removed or replaced under the server: every operation now fails (503); restart the server",
				"path", g.path, "stat_err", err)
		}
	}
	return g.lostErr()
}

// isLost tells whether the file was lost (false without a guard).
func (g *fileGuard) isLost() bool { return g != nil && g.lost.Load() }

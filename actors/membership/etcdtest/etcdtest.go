// Package etcdtest runs a real etcd (Debian's etcd-server) on free
// loopback ports with a temporary data dir, for the tests of the membership
// provider and of cluster mode.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Etcd is one etcd process; Dir holds its data and log (etcd.log).
type Etcd struct {
	Dir       string
	ClientURL string
	bin       string
	peerU     string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// Start runs the etcd binary bin (a data dir named after prefix in the
// system's temporary directory) and waits until it answers.
func Start(bin, prefix string) (*Etcd, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	e := &Etcd{
		bin:       bin,
		Dir:       dir,
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		peerU:     fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
	}
	if err := e.Run(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Run (re)starts etcd on e's ports and data dir and waits until it answers.
func (e *Etcd) Run() error {
	logf, err := os.OpenFile(filepath.Join(e.Dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	e.cmd = exec.Command(e.bin,
		"--name", "t", "--data-dir", filepath.Join(e.Dir, "data"),
		"--listen-client-urls", e.ClientURL, "--advertise-client-urls", e.ClientURL,
		"--listen-peer-urls", e.peerU, "--initial-advertise-peer-urls", e.peerU,
		"--initial-cluster", "t="+e.peerU,
		"--logger", "zap", "--log-level", "warn")
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	if err := e.cmd.Start(); err != nil {
		return err
	}
	e.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(e.cmd, e.exited)

	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := cli.Get(ctx, "/ping")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-e.exited:
			log, _ := os.ReadFile(filepath.Join(e.Dir, "etcd.log"))
			return fmt.Errorf("etcd exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd did not answer within 15s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills etcd (SIGKILL: a crash, its data dir stays).
func (e *Etcd) Stop() {
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGKILL)
	<-e.exited
	e.cmd = nil
}

// Close stops etcd and removes its data dir.
func (e *Etcd) Close() {
	e.Stop()
	_ = os.RemoveAll(e.Dir)
}

// Endpoints are the client endpoints.
func (e *Etcd) Endpoints() []string { return []string{e.ClientURL} }

// Client returns a plain etcd client for a test to inspect or disturb
// the member list, closed when t ends.
func (e *Etcd) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// FreePorts returns n loopback ports that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

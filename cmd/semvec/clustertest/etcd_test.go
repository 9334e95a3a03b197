package clustertest

// A real etcd for the cluster tests: Debian's etcd-server on free loopback
// ports with a temporary data dir. Copied from actors/membership/etcd_test.go
// (test helpers are not importable across packages).

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

type etcdProcess struct {
	bin, dir         string
	clientURL, peerU string
	cmd              *exec.Cmd
	exited           chan struct{}
}

func startEtcd(bin string) (*etcdProcess, error) {
	dir, err := os.MkdirTemp("", "semvec-clustertest-etcd-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	e := &etcdProcess{
		bin:       bin,
		dir:       dir,
		clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		peerU:     fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
	}
	if err := e.start(); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// start runs etcd on e's ports and data dir and waits until it answers.
func (e *etcdProcess) start() error {
	logf, err := os.OpenFile(filepath.Join(e.dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	e.cmd = exec.Command(e.bin,
		"--name", "t", "--data-dir", filepath.Join(e.dir, "data"),
		"--listen-client-urls", e.clientURL, "--advertise-client-urls", e.clientURL,
		"--listen-peer-urls", e.peerU, "--initial-advertise-peer-urls", e.peerU,
		"--initial-cluster", "t="+e.peerU,
		"--logger", "zap", "--log-level", "warn")
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	if err := e.cmd.Start(); err != nil {
		return err
	}
	e.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(e.cmd, e.exited)

	cli, err := clientv3.New(clientv3.Config{Endpoints: e.endpoints(), DialTimeout: time.Second, Logger: zap.NewNop()})
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
			log, _ := os.ReadFile(filepath.Join(e.dir, "etcd.log"))
			return fmt.Errorf("etcd exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd did not answer within 15s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop kills etcd (SIGKILL: a crash, its data dir stays).
func (e *etcdProcess) stop() {
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGKILL)
	<-e.exited
	e.cmd = nil
}

func (e *etcdProcess) close() {
	e.stop()
	_ = os.RemoveAll(e.dir)
}

func (e *etcdProcess) endpoints() []string { return []string{e.clientURL} }

// client returns a plain etcd client for a test to inspect or disturb
// the member list.
func (e *etcdProcess) client(t *testing.T) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.endpoints(), DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
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

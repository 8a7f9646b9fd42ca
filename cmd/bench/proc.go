package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one dispatcher process started by the bench.
type proc struct {
	role    string
	base    string // http://127.0.0.1:port (ROLE=worker serves nothing)
	logPath string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	err     error // cmd.Wait's, once done is closed
}

// passEnv are the only variables of ours a dispatcher inherits: nothing
// from the caller's shell (API_TOKENS, POLL_INTERVAL_MS, ROLE …) may change
// what is measured.
var passEnv = []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ"}

// startProc starts bin in dir (an empty directory, so no .env is read) with
// exactly env, its output in logPath, and waits for GET /ready = 200 when
// ready is set.
func startProc(ctx context.Context, bin, dir, role string, env map[string]string, logPath string, ready bool) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	env["DISPATCHER_PORT"] = strconv.Itoa(port)
	env["ROLE"] = role
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a Ctrl-C in the terminal reaches the bench,
	// which stops the dispatcher itself (SIGTERM, then SIGKILL).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{role: role, base: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: logPath, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p.started = time.Now()
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	if ready {
		if err := p.waitReady(ctx, 60*time.Second); err != nil {
			_ = p.stop()
			return nil, fmt.Errorf("dispatcher ROLE=%s: %w\n%s", role, err, tail(logPath, 20))
		}
	}
	return p, nil
}

func (p *proc) waitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("exited before it was ready: %v", p.err)
		default:
		}
		if resp, err := client.Get(p.base + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET /ready not 200 after %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exited reports whether the process has ended (on its own or stopped).
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to 15 s, then SIGKILLs. It returns an error
// when the process had already exited, did not stop in time or exited
// non-zero.
func (p *proc) stop() error {
	if p.exited() {
		return fmt.Errorf("had already exited: %v", p.err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("exit after SIGTERM: %v", p.err)
		}
		return nil
	case <-time.After(15 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return errors.New("did not stop within 15 s of SIGTERM: killed")
}

// rssKB reads VmRSS from /proc/<pid>/status (0 when unknown).
func (p *proc) rssKB() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				n, _ := strconv.ParseInt(fields[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n lines of a file, indented.
func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "    (no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "    (log " + path + " is empty)"
	}
	return "    " + path + ":\n      " + strings.Join(lines, "\n      ")
}

package wiring

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
)

// Profiler serves Go's profiler (net/http/pprof) on 127.0.0.1:PPROF_PORT,
// for finding where a process spends its CPU and memory. It listens on
// the loopback interface only: a profile shows the heap, and secrets
// are in it.
type Profiler struct {
	Server   *http.Server
	Listener net.Listener
}

// provideProfiler binds PPROF_PORT when it is set; nil otherwise.
func provideProfiler(cfg MetricsConfig, log *slog.Logger) (*Profiler, func(), error) {
	if !cfg.Profile {
		return nil, func() {}, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.ProfilePort)))
	if err != nil {
		return nil, nil, fmt.Errorf("PPROF_PORT: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &Profiler{Server: newServer(mux, log), Listener: l}, func() { l.Close() }, nil
}

package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/webhookd/webhookd/internal/logfile"
	"github.com/webhookd/webhookd/internal/logfmt"
)

// shutdownGrace bounds the drain on shutdown; Close has already cut every
// hang short, so in-flight requests answer within milliseconds.
const shutdownGrace = 5 * time.Second

// Run serves the receiver on cfg.Port until ctx is done, then shuts down
// gracefully. It logs JSON lines to stdout and, when cfg.LogFile is set,
// appends them to that file as well.
func Run(ctx context.Context, cfg Config, stdout io.Writer) error {
	log, closeLog, err := openLog(cfg.LogFile, stdout)
	if err != nil {
		return err
	}
	defer closeLog()
	r, err := New(cfg, log)
	if err != nil {
		return err
	}
	if cfg.UsingSeedSecret {
		log.Warn("HMAC_SECRET is not set: verifying with the seed's PUBLIC example secret")
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(r.cfg.Port))
	if err != nil {
		return fmt.Errorf("receiver: listen: %w", err)
	}
	return r.Serve(ctx, ln)
}

// Serve answers on ln until ctx is done, then closes the receiver (ending
// hangs) and drains in-flight requests. It returns nil after a clean
// shutdown. The receiver cannot serve again afterwards.
func (r *Receiver) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	r.log.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("receiver: serve: %w", err)
	case <-ctx.Done():
	}
	r.log.Info("shutting down")
	r.Close()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("receiver: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("receiver: serve: %w", err)
	}
	r.log.Info("stopped")
	return nil
}

// openLog builds the JSON logger, durations in milliseconds: stdout, plus
// path appended when set (rotated as the dispatcher's LOG_FILE is by
// default).
func openLog(path string, stdout io.Writer) (*slog.Logger, func(), error) {
	opts := logfmt.Options(slog.LevelInfo)
	if path == "" {
		return slog.New(slog.NewJSONHandler(stdout, opts)), func() {}, nil
	}
	f, err := logfile.Open(path, logfile.DefaultRotation())
	if err != nil {
		return nil, nil, fmt.Errorf("receiver: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(stdout, f), opts))
	return log, func() { _ = f.Close() }, nil
}

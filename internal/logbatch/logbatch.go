// Package logbatch writes log lines behind the goroutines that log them,
// many lines to a system call.
//
// A draining worker logs a line per delivery at LOG_LEVEL=info, thousands
// a second; one write(2) each cost it as much as formatting the line. Here
// a line is copied to a queue and the call returns; one goroutine, woken by
// a line, lets lines gather for a moment (linger) and writes whatever has
// queued since its last write, in one call. Lines keep their
// order. Lines at WARN and above are not left behind: Handler writes them,
// with everything queued before them, before their call returns, so an
// error logged just before a crash is on disk as it was before. What a
// kill -9 can cost is the INFO and DEBUG lines of the last moment.
package logbatch

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// maxQueued bounds what may wait: a caller that finds this much queued
// (the output is stuck or slow) writes it itself, as if unbatched.
const maxQueued = 1 << 20

// linger is how long the writing goroutine lets lines gather once a line
// has woken it. Without it the goroutine woke for nearly every line of a
// draining worker and wrote it alone; with it, 10,000 lines a second go
// out ~10 to a call, and the goroutine wakes at most 1,000 times a second.
// An INFO line reaches the output up to this much later.
const linger = time.Millisecond

// Writer queues what it is given and writes it to out in order, batched.
// Close writes what is left.
type Writer struct {
	out io.Writer

	writing sync.Mutex // held by whoever writes to out, so batches keep their order

	mu     sync.Mutex
	queued []byte
	spare  []byte // the last batch's buffer, reused
	closed bool

	wake  chan struct{} // a line is queued (capacity 1)
	done  chan struct{} // the writing goroutine has returned
	pause func()        // lets lines gather before a write (linger)
}

// New starts a Writer to out.
func New(out io.Writer) *Writer {
	return start(out, func() { time.Sleep(linger) })
}

func start(out io.Writer, pause func()) *Writer {
	w := &Writer{out: out, wake: make(chan struct{}, 1), done: make(chan struct{}), pause: pause}
	go w.run()
	return w
}

// Write queues a copy of p (a slog handler reuses its buffer). After
// Close it writes p at once.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.writing.Lock()
		defer w.writing.Unlock()
		return w.out.Write(p)
	}
	w.queued = append(w.queued, p...)
	full := len(w.queued) >= maxQueued
	w.mu.Unlock()
	if full {
		return len(p), w.Flush()
	}
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
	return len(p), nil
}

// Flush writes everything queued so far before it returns.
func (w *Writer) Flush() error {
	w.writing.Lock()
	defer w.writing.Unlock()
	return w.writeQueued()
}

// writeQueued writes what is queued; the caller holds w.writing.
func (w *Writer) writeQueued() error {
	w.mu.Lock()
	batch := w.queued
	w.queued = w.spare[:0]
	w.mu.Unlock()
	if len(batch) == 0 {
		w.spare = batch
		return nil
	}
	_, err := w.out.Write(batch)
	if cap(batch) <= maxQueued { // keep one buffer of a usual size, not a burst's
		w.spare = batch[:0]
	} else {
		w.spare = nil
	}
	return err
}

func (w *Writer) run() {
	defer close(w.done)
	for range w.wake {
		if !w.isClosed() {
			w.pause()
			select { // the lines that woke it during the pause go out now
			case <-w.wake:
			default:
			}
		}
		_ = w.Flush() // a logger has nowhere to report its own output failing
		// Read after the drain above: a Close whose wake-up it swallowed
		// had already set closed.
		if w.isClosed() {
			return
		}
	}
}

func (w *Writer) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// Close writes what is queued and stops the writing goroutine; later
// lines are written at once.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.done
	return w.Flush()
}

// Handler is a slog.Handler writing through a Writer: it flushes after a
// record at WARN or above, so that such a line (and every line before it)
// is written before Handle returns.
type Handler struct {
	inner slog.Handler
	w     *Writer
}

// NewHandler wraps inner, whose output is w.
func NewHandler(inner slog.Handler, w *Writer) *Handler { return &Handler{inner: inner, w: w} }

func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.inner.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs), w: h.w}
}

func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), w: h.w}
}

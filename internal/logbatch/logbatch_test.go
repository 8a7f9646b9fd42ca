package logbatch_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/logbatch"
)

// recorder is an output that keeps every write separately; the first
// write can be held until released.
type recorder struct {
	mu     sync.Mutex
	writes []string
	hold   chan struct{} // non-nil: the first write waits for it to close
	inside chan struct{} // closed when the first write has begun
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	first := len(r.writes) == 0
	r.writes = append(r.writes, string(p))
	r.mu.Unlock()
	if first && r.hold != nil {
		close(r.inside)
		<-r.hold
	}
	return len(p), nil
}

func (r *recorder) all() (writes []string, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...), strings.Join(r.writes, "")
}

func TestEveryLineIsWrittenWholeAndInOrder(t *testing.T) {
	t.Parallel()
	var out recorder
	w := logbatch.New(&out)
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				if _, err := fmt.Fprintf(w, "g%d line %d\n", g, i); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	writes, text := out.all()
	got := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines written, want %d", len(got), writers*lines)
	}
	next := make([]int, writers)
	for _, line := range got {
		var g, i int
		if _, err := fmt.Sscanf(line, "g%d line %d", &g, &i); err != nil || g < 0 || g >= writers {
			t.Fatalf("line %q is not one that was logged", line)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d came where line %d should", g, i, next[g])
		}
		next[g]++
	}
	if len(writes) >= writers*lines {
		t.Errorf("%d writes for %d lines: nothing was batched", len(writes), writers*lines)
	}
}

func TestLinesQueuedDuringAWriteGoOutInTheNextOne(t *testing.T) {
	t.Parallel()
	out := &recorder{hold: make(chan struct{}), inside: make(chan struct{})}
	w := logbatch.New(out)
	fmt.Fprintln(w, "first")
	<-out.inside // the writer is busy with "first"
	for i := range 100 {
		fmt.Fprintf(w, "queued %d\n", i)
	}
	close(out.hold)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	writes, _ := out.all()
	if len(writes) != 2 || writes[0] != "first\n" || strings.Count(writes[1], "\n") != 100 {
		t.Fatalf("got %d writes (%q…), want the first line, then the 100 queued behind it in one", len(writes), writes[0])
	}
}

func TestAWarningIsWrittenBeforeTheCallReturns(t *testing.T) {
	t.Parallel()
	out := &recorder{hold: make(chan struct{}), inside: make(chan struct{})}
	w := logbatch.New(out)
	log := slog.New(logbatch.NewHandler(slog.NewTextHandler(w, nil), w)).With("worker", "w1")
	log.Info("routine 1")
	<-out.inside // held: routine 1 is being written
	log.Info("routine 2")
	warned := make(chan struct{})
	go func() {
		log.Warn("trouble")
		close(warned)
	}()
	select { // it may not return while "routine 1" is held: no wait here can make a correct writer fail
	case <-warned:
		t.Fatal("the warning returned while the lines before it were still being written")
	case <-time.After(100 * time.Millisecond):
	}
	close(out.hold)
	<-warned
	_, text := out.all() // as the warning's call returned, before Close
	for _, want := range []string{"routine 1", "routine 2", "trouble", "worker=w1"} {
		if !strings.Contains(text, want) {
			t.Errorf("after the warning returned, the output lacks %q:\n%s", want, text)
		}
	}
	if i, j := strings.Index(text, "routine 2"), strings.Index(text, "trouble"); i < 0 || j < i {
		t.Errorf("lines out of order:\n%s", text)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAfterCloseLinesAreWrittenAtOnce(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := logbatch.New(&out)
	fmt.Fprintln(w, "before")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "before\n" {
		t.Fatalf("after Close: %q, want the queued line", out.String())
	}
	fmt.Fprintln(w, "after")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "before\nafter\n" {
		t.Fatalf("a line after Close: %q", out.String())
	}
}

func TestLinesGatherForAMomentBeforeAWrite(t *testing.T) {
	t.Parallel()
	var out recorder
	w, paused, resume := pausedWriter(&out)
	fmt.Fprintln(w, "wakes it")
	select {
	case <-paused:
	case <-time.After(5 * time.Second):
		t.Fatal("the writer did not pause before writing the line that woke it")
	}
	for i := range 99 {
		fmt.Fprintf(w, "gathered %d\n", i)
	}
	if writes, _ := out.all(); len(writes) != 0 {
		t.Fatalf("%d writes during the pause, want none", len(writes))
	}
	close(resume)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	writes, _ := out.all()
	if len(writes) != 1 || strings.Count(writes[0], "\n") != 100 {
		t.Fatalf("got %d writes, want the 100 lines in one", len(writes))
	}
}

func TestCloseDuringThePauseWritesEverything(t *testing.T) {
	t.Parallel()
	var out recorder
	w, paused, resume := pausedWriter(&out)
	fmt.Fprintln(w, "one")
	<-paused
	fmt.Fprintln(w, "two")
	closed := make(chan error)
	go func() { closed <- w.Close() }()
	time.Sleep(10 * time.Millisecond) // let Close mark the writer closed and wake it (no wait can make a correct writer fail)
	close(resume)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: the writer missed its wake-up")
	}
	if _, text := out.all(); text != "one\ntwo\n" {
		t.Fatalf("written %q, want both lines", text)
	}
}

// pausedWriter is a Writer to out whose pause says when it begins
// (closing paused, once) and lasts until resume is closed.
func pausedWriter(out *recorder) (w *logbatch.Writer, paused, resume chan struct{}) {
	paused, resume = make(chan struct{}), make(chan struct{})
	once := sync.OnceFunc(func() { close(paused) })
	w = logbatch.StartPaused(out, func() {
		once()
		<-resume
	})
	return w, paused, resume
}

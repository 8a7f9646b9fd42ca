package receiver_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/webhookd/webhookd/cmd/mock-receiver/receiver"
	"github.com/webhookd/webhookd/core/signing"
	"github.com/webhookd/webhookd/internal/testkit"
)

func TestServeShutsDownGracefully(t *testing.T) {
	t.Parallel()
	cfg := quietConfig()
	cfg.FailFirstN, cfg.FirstHangRate, cfg.Hang, cfg.Rand = 1, 1, time.Minute, constRand(0)
	rcv, err := receiver.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- rcv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /health = %d", resp.StatusCode)
	}

	signer, err := signing.NewSigner(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	hung := make(chan int, 1)
	go func() {
		body := eventBody("evt_hang")
		req, _ := http.NewRequest(http.MethodPost, base+"/webhook", bytes.NewReader(body))
		signer.Sign(req.Header, "evt_hang", time.Now(), body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			hung <- -1
			return
		}
		resp.Body.Close()
		hung <- resp.StatusCode
	}()
	testkit.Eventually(t, 5*time.Second, "the request to start hanging", func() bool { return rcv.Stats(false).UniqueEvents == 1 })

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after a clean shutdown", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return after the context was cancelled")
	}
	if code := <-hung; code != http.StatusInternalServerError {
		t.Errorf("hanging request got %d, want its 500 answered during the drain", code)
	}
	if _, err := http.Get(base + "/health"); err == nil {
		t.Error("the server still answers after shutdown")
	}
}

package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/webhookd/webhookd/core/signing"
)

// serveLean is the receiver's HTTP/1.1 server when -receiver lean (the
// default): keep-alive, Content-Length bodies, and nothing else a
// dispatcher's POST does not need. The merchant shares this box with the
// dispatcher and its database, so every microsecond it spends is one the
// dispatcher does not get; net/http's server costs about four times as
// much per request (BENCHMARKS.md). The checks stay the same: handle sees
// the Standard Webhooks headers and the whole body.
//
// A request it does not understand (no Content-Length, a chunked body, a
// malformed line) is answered 400 and counted as a bad request, so a
// scenario cannot pass on deliveries the lean server misread.
type leanServer struct {
	ln     net.Listener
	handle func(h http.Header, body []byte, err error)

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func serveLean(ln net.Listener, handle func(h http.Header, body []byte, err error)) *leanServer {
	s := &leanServer{ln: ln, handle: handle, conns: map[net.Conn]struct{}{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				_ = c.Close()
				return
			}
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	return s
}

// close stops accepting and closes every open connection.
func (s *leanServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
}

// leanHeaders are the request headers handle is given, by lower-case name.
var leanHeaders = map[string]string{
	"webhook-id":        signing.HeaderWebhookID,
	"webhook-timestamp": signing.HeaderWebhookTimestamp,
	"webhook-signature": signing.HeaderWebhookSignature,
}

var (
	leanOK  = []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	leanBad = []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
)

func (s *leanServer) serve(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	br := bufio.NewReaderSize(c, 16<<10)
	for {
		h, body, closeAfter, err := readLeanRequest(br)
		if errors.Is(err, errLeanRequest) {
			s.handle(nil, nil, err)
			_, _ = c.Write(leanBad)
			return
		}
		if err != nil {
			return // the client went away, as net/http's server would see it
		}
		s.handle(h, body, nil)
		if _, err := c.Write(leanOK); err != nil || closeAfter {
			return
		}
	}
}

var errLeanRequest = errors.New("lean receiver: a request it does not handle")

// readLeanRequest reads one request: its line, its headers (keeping those
// in leanHeaders) and its Content-Length body. errLeanRequest: a request
// it does not handle; any other error: the connection failed or closed.
func readLeanRequest(br *bufio.Reader) (h http.Header, body []byte, closeAfter bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, nil, false, err
	}
	if !bytes.HasPrefix(line, []byte("POST ")) || !bytes.HasSuffix(line, []byte(" HTTP/1.1\r\n")) {
		return nil, nil, false, errLeanRequest
	}
	h = make(http.Header, len(leanHeaders))
	size := -1
	var lower [64]byte // a header's name, lower-cased without allocating
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, nil, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, nil, false, errLeanRequest
		}
		if len(k) > len(lower) {
			continue // no header this server reads has so long a name
		}
		for i, c := range k {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
		name, v := lower[:len(k)], bytes.TrimSpace(v)
		switch string(name) { // compared, not allocated
		case "content-length":
			if size, err = strconv.Atoi(string(v)); err != nil || size < 0 || size > 1<<20 {
				return nil, nil, false, errLeanRequest
			}
		case "transfer-encoding":
			return nil, nil, false, errLeanRequest
		case "connection":
			closeAfter = bytes.EqualFold(v, []byte("close"))
		default:
			if key, ok := leanHeaders[string(name)]; ok {
				h.Set(key, string(v))
			}
		}
	}
	if size < 0 {
		return nil, nil, false, errLeanRequest
	}
	body = make([]byte, size)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, nil, false, err
	}
	return h, body, closeAfter, nil
}

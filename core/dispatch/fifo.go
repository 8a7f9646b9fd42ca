package dispatch

import "github.com/webhookd/webhookd/core"

// fifo is one target's queue of deliveries claimed ahead. It keeps its
// array: a popped slot is cleared (its body can go) and the live part is
// moved to the front when a push would otherwise grow the array. A slice
// popped by reslicing (q = q[1:]) loses its front for good, and each
// refill of a busy target's queue allocated a new array.
type fifo struct {
	buf  []core.Delivery
	head int // buf[head:] are queued, oldest first
}

func (q *fifo) len() int { return len(q.buf) - q.head }

// items are the queued deliveries, oldest first (q's own array).
func (q *fifo) items() []core.Delivery { return q.buf[q.head:] }

func (q *fifo) push(ds []core.Delivery) {
	if q.head > 0 && len(q.buf)+len(ds) > cap(q.buf) {
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, ds...)
}

func (q *fifo) pop() core.Delivery {
	e := q.buf[q.head]
	q.buf[q.head] = core.Delivery{}
	q.head++
	return e
}

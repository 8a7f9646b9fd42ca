package dispatch

import (
	"testing"

	"github.com/webhookd/webhookd/core"
)

// A fifo hands deliveries out in the order pushed, clears what it hands
// out, and refills a queue drained from the front in its own array.
func TestFIFOKeepsOrderAndReusesItsArray(t *testing.T) {
	t.Parallel()
	ds := func(ids ...string) []core.Delivery {
		out := make([]core.Delivery, len(ids))
		for i, id := range ids {
			out[i] = core.Delivery{ID: core.DeliveryID(id), Body: []byte(id)}
		}
		return out
	}
	var q fifo
	q.push(ds("a", "b", "c", "d"))
	array := &q.buf[:cap(q.buf)][0]
	for _, want := range []string{"a", "b", "c"} {
		if got := q.pop(); string(got.ID) != want {
			t.Fatalf("pop = %s, want %s", got.ID, want)
		}
	}
	if q.buf[0].Body != nil {
		t.Error("a popped slot still holds its delivery's body")
	}
	q.push(ds("e", "f", "g")) // fits once "d" moves to the front
	if &q.buf[0] != array {
		t.Error("the push grew a new array where the old one had room")
	}
	var got []string
	for _, d := range q.items() {
		got = append(got, string(d.ID))
	}
	if q.len() != 4 || len(got) != 4 || got[0] != "d" || got[3] != "g" {
		t.Fatalf("queued %v (len %d), want d e f g", got, q.len())
	}
	for _, d := range q.buf[q.len():cap(q.buf)] {
		if d.Body != nil {
			t.Error("a slot past the queue still holds a delivery's body")
		}
	}
}

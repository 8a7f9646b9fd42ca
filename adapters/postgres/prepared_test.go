package postgres

import (
	"bytes"
	"slices"
	"testing"
)

// TestPreparedParamsRoundTrip: what the prepared statements send as array
// texts comes back from PostgreSQL exactly: quotes, backslashes, commas,
// braces, NULL-looking words, empty strings, non-ASCII text.
func TestPreparedParamsRoundTrip(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	q := newPreparedQuery(`SELECT t FROM unnest(?texts::text[], ?nums::bigint[]) AS u (t, n) ORDER BY n`, nil)
	texts := []string{"", `a"b`, `back\slash`, "{braces},commas", "NULL", " spaced ", "ünïcødé ✓", `\x41`, "'quote'", "bad\xffbyte"}
	nums := make([]int64, len(texts))
	for i := range texts {
		nums[i] = int64(i)
	}
	var got []string
	if err := q.scan(t.Context(), s.queue, map[string]any{"texts": arrayParam(texts), "nums": arrayParam(nums)}, &got); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(texts)
	want[len(want)-1] = "bad\uFFFDbyte" // PostgreSQL takes UTF-8 only: an invalid byte is replaced
	if !slices.Equal(got, want) {
		t.Errorf("texts:\n got %q\nwant %q", got, want)
	}
	if _, err := q.args(map[string]any{"texts": "{}"}); err == nil {
		t.Error("args without a value for every name: no error")
	}
}

// TestPreparedByteaRoundTrip: bodies sent as a bytea array text come back
// byte for byte: empty, nil, binary, quotes and backslashes, NUL.
func TestPreparedByteaRoundTrip(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	q := newPreparedQuery(`SELECT b FROM unnest(?bodies::bytea[]) WITH ORDINALITY AS u (b, n) ORDER BY n`, nil)
	bodies := [][]byte{{}, nil, []byte(`{"a":"b\\c"}`), {0, 1, 2, 255, '"', '\\', '{', '}', ','}, []byte("ünïcødé")}
	var got [][]byte
	if err := q.scan(t.Context(), s.queue, map[string]any{"bodies": byteaArrayParam(bodies)}, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(bodies) {
		t.Fatalf("%d bodies back, want %d", len(got), len(bodies))
	}
	for i := range bodies {
		if !bytes.Equal(got[i], bodies[i]) || got[i] == nil {
			t.Errorf("body %d: got %q, want %q", i, got[i], bodies[i])
		}
	}
}

// TestArrayParamText: numbers and booleans are written as PostgreSQL
// reads them.
func TestArrayParamText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{arrayParam([]string{}), "{}"},
		{arrayParam([]int{1, -2, 0}), "{1,-2,0}"},
		{arrayParam([]int64{-9223372036854775808, 9223372036854775807}), "{-9223372036854775808,9223372036854775807}"},
		{arrayParam([]bool{true, false}), "{true,false}"},
		{arrayParam([]float64{1.5, 0, 12.25e-3}), "{1.5,0,0.01225}"},
		{arrayParam([]string{`a"b\c`, ""}), `{"a\"b\\c",""}`},
	} {
		if tc.got != tc.want {
			t.Errorf("arrayParam = %s, want %s", tc.got, tc.want)
		}
	}
}

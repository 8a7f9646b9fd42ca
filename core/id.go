package core

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"
)

// EventID is a UUID in canonical lower-case text form.
//
// New IDs are UUIDv7: time-ordered, so they index well in a B-tree and list
// in creation order, and unguessable in their 74 random bits.
type EventID string

func (id EventID) String() string { return string(id) }

// NewEventID returns a UUIDv7 for time now.
func NewEventID(now time.Time) EventID {
	var b [16]byte
	if _, err := rand.Read(b[6:]); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ crashes
		// instead); keep the compiler happy without a silent weak fallback.
		panic("core: crypto/rand failed: " + err.Error())
	}
	ms := uint64(now.UnixMilli())
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(b[0:6], ts[2:8])
	b[6] = (b[6] & 0x0f) | 0x70 // version 7
	b[8] = (b[8] & 0x3f) | 0x80 // RFC 9562 variant
	return EventID(formatUUID(b))
}

// ParseEventID accepts a UUID of any version in canonical 8-4-4-4-12 form,
// either case, and returns it lower-cased.
func ParseEventID(s string) (EventID, error) {
	if !IsUUID(s) {
		return "", invalid("id", "invalid_id", "must be a UUID like 0190c1d2-7e4b-7c3a-9f1e-2b3c4d5e6f70")
	}
	return EventID(strings.ToLower(s)), nil
}

// IsUUID says whether ParseEventID accepts s, without allocating: stores
// check every id they are given.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

func formatUUID(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

package core

import "strings"

// StorableText is s as every store keeps it in a text column: valid UTF-8
// without NUL. PostgreSQL rejects both, and a merchant's response snippet
// or error may hold either; refusing to record an attempt over that would
// be far worse than a replacement character. Stores apply it to the error,
// reason and response they record, so that all of them read back alike.
func StorableText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

package logbatch

import "io"

// StartPaused is New with the linger replaced by pause.
func StartPaused(out io.Writer, pause func()) *Writer { return start(out, pause) }

package main

import (
	"strings"
	"testing"
)

func TestRunFailsFastOnBadConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{"MOCK_RECEIVER_PORT": "3001", "FAIL_RATE": "lots"}
	err := run(t.Context(), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "FAIL_RATE") {
		t.Fatalf("run with FAIL_RATE=lots = %v, want an error naming FAIL_RATE", err)
	}
}

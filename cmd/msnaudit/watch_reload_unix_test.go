//go:build unix

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// outputGone tells a pipe nobody reads from one still read, and never
// reports a regular file.
func TestOutputGone(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	if err := outputGone(pw); err != nil {
		t.Errorf("a pipe still read: %v", err)
	}
	pr.Close()
	if err := outputGone(pw); err == nil || err.Error() != "nobody reads it any more" {
		t.Errorf("a pipe nobody reads: %v", err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := outputGone(f); err != nil {
		t.Errorf("a regular file: %v", err)
	}
}

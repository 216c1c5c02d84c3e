//go:build !unix

package capture

import "os"

func mapFile(*os.File, int64) []byte { return nil }
func unmap([]byte) error             { return nil }
func dontNeed([]byte)                {}

var pageSize = os.Getpagesize()

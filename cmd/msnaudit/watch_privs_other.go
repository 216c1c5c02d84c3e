//go:build !linux

package main

import "errors"

// dropPrivileges is Linux only, like the live capture.
func dropPrivileges(name string) error {
	if name != "" {
		return errors.New("--user needs Linux")
	}
	return nil
}

func checkOutputsWritable(string, map[string]string) error { return nil }

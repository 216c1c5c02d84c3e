//go:build !linux

package capture

// Live is only available on Linux.
func Live(ifaces []string, opts LiveOptions) (LiveSource, error) {
	return nil, ErrLiveUnsupported
}

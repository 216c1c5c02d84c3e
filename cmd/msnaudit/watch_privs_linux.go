//go:build linux

package main

// Least privilege for `msnaudit watch`: once the capture is live (AF_PACKET
// sockets open, eBPF programs loaded and attached, the metrics listener
// bound), the watch needs no privilege at all to read packets, judge them
// and write its report. So it gives up every capability and, with --user,
// root itself, on every thread of the process, before the first packet
// from the network is parsed.

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dropPrivileges makes the process unable to regain any privilege:
//
//   - no_new_privs: no execve can grant privileges again (setuid binaries,
//     file capabilities);
//   - the capability bounding set and the ambient set emptied;
//   - with name (a user name or a numeric uid), the user's groups (its
//     primary group and those /etc/group gives it), then its gid and uid as
//     the real, effective and saved ids;
//   - the effective, permitted and inheritable capabilities emptied.
//
// Each step is made on every thread of the process (per-thread state in
// Linux: syscall.AllThreadsSyscall, which a cgo build does not allow; the
// watch is built with CGO_ENABLED=0). It returns an error, and the watch
// does not start, when a step fails or the result is not what it should be.
// Without CAP_SETPCAP (a non-root user given CAP_NET_RAW as a file
// capability) the bounding set cannot be emptied: it is left, and
// no_new_privs keeps any execve from using it.
func dropPrivileges(name string) error {
	var target *user.User
	var uid, gid int
	var groups []int
	if name != "" {
		var err error
		if target, err = lookupUser(name); err != nil {
			return err
		}
		uid, _ = strconv.Atoi(target.Uid)
		gid, _ = strconv.Atoi(target.Gid)
		groups = []int{gid}
		if ids, err := target.GroupIds(); err == nil {
			for _, s := range ids {
				if g, err := strconv.Atoi(s); err == nil && !slices.Contains(groups, g) {
					groups = append(groups, g)
				}
			}
		}
	}
	fail := func(step string, err error) error {
		if errors.Is(err, syscall.ENOTSUP) {
			err = errors.New("not possible in a cgo build (build msnaudit with CGO_ENABLED=0)")
		}
		return fmt.Errorf("drop privileges: %s: %w", step, err)
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return fail("no_new_privs", err)
	}
	for c := 0; c <= lastCap(); c++ {
		if err := allThreads(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); err != nil {
			if errors.Is(err, unix.EPERM) && c == 0 {
				break // no CAP_SETPCAP: see above
			}
			return fail(fmt.Sprintf("bounding set (capability %d)", c), err)
		}
	}
	err := allThreads(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0)
	if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: before Linux 4.3, no ambient set
		return fail("ambient capabilities", err)
	}
	if target != nil {
		// The syscall package's, not x/sys/unix's: those apply to every
		// thread (x/sys/unix.Setgroups changes only the calling one).
		if err := syscall.Setgroups(groups); err != nil {
			return fail("setgroups", err)
		}
		if err := syscall.Setresgid(gid, gid, gid); err != nil {
			return fail("setresgid", err)
		}
		if err := syscall.Setresuid(uid, uid, uid); err != nil {
			return fail("setresuid", err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // all zero: no capability at all
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fail("capset", e)
	}

	// Check, on this thread (the others made the same calls with the
	// same results, or the runtime would have stopped the process).
	hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fail("capget", err)
	}
	nnp, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	for _, d := range data {
		if d.Effective|d.Permitted|d.Inheritable != 0 {
			return fail("check", fmt.Errorf("capabilities left: %+v", data))
		}
	}
	if nnp != 1 {
		return fail("check", errors.New("no_new_privs is not set"))
	}
	if target != nil {
		ru, eu, su := unix.Getresuid()
		rg, eg, sg := unix.Getresgid()
		if ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid {
			return fail("check", fmt.Errorf("uids %d/%d/%d gids %d/%d/%d, want %d and %d", ru, eu, su, rg, eg, sg, uid, gid))
		}
	}
	return nil
}

// lookupUser finds a user by name, or by number.
func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("--user %s: %w", name, err)
	}
	if _, err := strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("--user %s: uid %q is not a number", name, u.Uid)
	}
	if _, err := strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("--user %s: gid %q is not a number", name, u.Gid)
	}
	return u, nil
}

// allThreads runs a system call of up to three arguments on every thread.
func allThreads(trap, a1, a2, a3 uintptr) error {
	if _, _, e := syscall.AllThreadsSyscall(trap, a1, a2, a3); e != 0 {
		return e
	}
	return nil
}

// lastCap is the highest capability this kernel knows.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= 0 && n < 64 {
			return n
		}
	}
	return unix.CAP_LAST_CAP
}

// checkOutputsWritable checks, once privileges are dropped, that the final
// report (-o) and the pcapng (-w) can still be put in place: a report that
// cannot be written is found out now, not when the watch stops. Both are
// written to a temporary file in their directory and renamed (a device or
// a pipe is written in place).
func checkOutputsWritable(userName string, outputs map[string]string) error {
	who := "root without capabilities"
	if userName != "" {
		who = "user " + userName
	}
	for _, flag := range []string{"-o", "-w"} {
		path := outputs[flag]
		if path == "" {
			continue
		}
		target, mode := filepath.Dir(path), uint32(unix.W_OK|unix.X_OK)
		if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() && fi.Mode()&os.ModeSymlink == 0 {
			target, mode = path, unix.W_OK
		}
		if err := unix.Access(target, mode); err != nil {
			return fmt.Errorf("%s %s: %s cannot write %s (%v): give a place it can write",
				flag, path, who, target, err)
		}
	}
	return nil
}

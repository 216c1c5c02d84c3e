//go:build linux

package bpf

import (
	"fmt"
	"os"
	"testing"
)

// A gateway watched on both of its interfaces counts each forwarded packet
// once, though it passes the ingress hook of one and the egress hook of the
// other: client 10.231.30.1 -- gc gateway gs -- 10.231.31.2 server, with
// the engine in the gateway's namespace on gc and gs, in each attach mode.
func TestForwardedPacketsCountedOnce(t *testing.T) {
	requireBPF(t)
	requireTools(t, "ip")
	suffix := fmt.Sprintf("%d", os.Getpid()%100000)
	cli, gw, srv := "msnafc"+suffix, "msnafg"+suffix, "msnafs"+suffix
	for _, ns := range []string{cli, gw, srv} {
		newNetNS(t, ns)
	}
	sh(t, "", "ip", "-n", cli, "link", "add", "vc", "type", "veth", "peer", "name", "gc", "netns", gw)
	sh(t, "", "ip", "-n", srv, "link", "add", "vs", "type", "veth", "peer", "name", "gs", "netns", gw)
	for _, c := range [][3]string{{cli, "vc", "10.231.30.1/24"}, {gw, "gc", "10.231.30.2/24"}, {gw, "gs", "10.231.31.1/24"}, {srv, "vs", "10.231.31.2/24"}} {
		sh(t, "", "ip", "-n", c[0], "addr", "add", c[2], "dev", c[1])
		sh(t, "", "ip", "-n", c[0], "link", "set", c[1], "up")
	}
	sh(t, "", "ip", "-n", cli, "route", "add", "default", "via", "10.231.30.2")
	sh(t, "", "ip", "-n", srv, "route", "add", "default", "via", "10.231.31.1")
	sh(t, "", "ip", "netns", "exec", gw, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	for i, mode := range []string{AttachTCX, AttachTC} {
		t.Run(mode, func(t *testing.T) {
			e := loadEngineIn(t, gw, Options{Interfaces: []string{"gc", "gs"}, AttachMode: mode})
			echoCounted(t, e, cli, srv, ap(fmt.Sprintf("10.231.30.1:%d", 41000+i)), ap("10.231.31.2:40000"), 30)
			e.Close()
		})
	}
}

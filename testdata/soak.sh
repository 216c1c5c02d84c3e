#!/usr/bin/env bash
# testdata/soak.sh: does `msnaudit watch` stay flat (memory, goroutines) under steady traffic?
#
# Usage, as root, from the repository root:
#
#   testdata/soak.sh [MINUTES]            default 10
#
# It builds msnaudit (CGO_ENABLED=0) and a small traffic generator (Go, standard library
# only), creates two network namespaces joined by a veth pair (10.203.0.1 a0 -- b0 10.203.0.2;
# names unique to this run, deleted by a trap however the script ends), and in namespace B
# runs the listeners (TCP 1863 answering MSNP, TLS on 443, DNS on 53; nothing on UDP 7001 or
# TCP 1503) and `msnaudit watch -i b0 --metrics 127.0.0.1:9464` (loopback inside B). From A
# the generator makes SOAK_RATE attempts a second (default 20), in turn: a DNS lookup of a
# Messenger name, an MSNP connection to 1863, a TLS connection to 443 with the SNI
# login.live.com, a UDP 7001 echo probe (ICMP port unreachable), a TCP connection to 1503
# (refused), a lookup answered NXDOMAIN; each is a new flow. It is bounded: at most
# SOAK_RATE x 60 x MINUTES attempts, 64 at a time, 2 s each at most, for MINUTES.
#
# Every 10 s it samples the watch's VmRSS (/proc/PID/status) and go_goroutines (from
# /metrics), with the packets, flows and open flows the metrics count, and prints a row.
# At the end it stops the watch with SIGINT (its final report goes to DIR/out/report.json)
# and prints the verdict: "flat" when, for both RSS and goroutines, the largest sample of
# the last third is within 20% of the largest of the first third. Exit status 0 when flat,
# 1 when not, 2 when the soak could not run.
#
# The watch runs with --max-listed 2000 so that its bounded listing of flows fills in the
# first minutes (at 20 flows a second the default 10000 would take most of a 10-minute soak
# to fill and the soak would measure the filling, not the steady state); the flow table fills
# within the idle timeout (120 s). Environment:
#   SOAK_RATE   attempts per second (default 20)
#   SOAK_ARGS   more watch flags (default: --user nobody when that user exists)
#   SOAK_DIR    work directory (default: a new one under /tmp, kept: binaries, report, logs)
set -euo pipefail

minutes=${1:-10}
rate=${SOAK_RATE:-20}
if ! [[ $minutes =~ ^[0-9]+$ && $minutes -ge 1 && $rate =~ ^[0-9]+$ && $rate -ge 1 && $rate -le 1000 ]]; then
	echo "usage: testdata/soak.sh [MINUTES]   (MINUTES >= 1; SOAK_RATE 1-1000)" >&2
	exit 2
fi
if [[ $(id -u) != 0 ]]; then
	echo "soak.sh: needs root (network namespaces, packet capture)" >&2
	exit 2
fi
for tool in go ip; do
	command -v "$tool" >/dev/null || { echo "soak.sh: needs $tool in PATH" >&2; exit 2; }
done
if [[ -z ${SOAK_ARGS+x} ]]; then
	SOAK_ARGS=""
	id nobody >/dev/null 2>&1 && SOAK_ARGS="--user nobody"
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${SOAK_DIR:-$(mktemp -d /tmp/msnaudit-soak.XXXXXX)}
mkdir -p "$dir"
chmod 755 "$dir"
install -d -m 1777 "$dir/out" # the report, written by the watch after it drops root (--user)
nsA="msnaudit-soak-$$-a"
nsB="msnaudit-soak-$$-b"
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	ip netns del "$nsA" 2>/dev/null || true
	ip netns del "$nsB" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 2' INT TERM

echo "soak: $minutes min at $rate attempts/s; work directory $dir"
(cd "$repo" && CGO_ENABLED=0 go build -o "$dir/msnaudit" ./cmd/msnaudit)

cat >"$dir/soakgen.go" <<'EOF'
// soakgen: the soak's traffic. "server ADDR" listens on ADDR; "client ADDR RATE SECONDS"
// makes RATE attempts a second to ADDR for SECONDS.
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "server":
		err = server(os.Args[2])
	case len(os.Args) == 5 && os.Args[1] == "client":
		rate, _ := strconv.Atoi(os.Args[3])
		secs, _ := strconv.Atoi(os.Args[4])
		err = client(os.Args[2], rate, secs)
	default:
		err = fmt.Errorf("usage: soakgen server ADDR | client ADDR RATE SECONDS")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soakgen:", err)
		os.Exit(1)
	}
}

func server(addr string) error {
	msnp, err := net.Listen("tcp", addr+":1863")
	if err != nil {
		return err
	}
	go serve(msnp, func(c net.Conn) {
		if line, err := bufio.NewReader(c).ReadString('\n'); err == nil && strings.HasPrefix(line, "VER ") {
			io.WriteString(c, "VER 1 MSNP18\r\n")
		}
	})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "login.live.com"},
		DNSNames: []string{"login.live.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	tl, err := tls.Listen("tcp", addr+":443", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		return err
	}
	go serve(tl, func(c net.Conn) { io.Copy(io.Discard, c) })
	dns, err := net.ListenPacket("udp", addr+":53")
	if err != nil {
		return err
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := dns.ReadFrom(buf)
			if err != nil {
				return
			}
			if reply := answer(buf[:n], net.ParseIP(addr).To4()); reply != nil {
				dns.WriteTo(reply, from)
			}
		}
	}()
	fmt.Println("ready")
	select {}
}

func serve(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			handle(c)
		}()
	}
}

// query builds a DNS query for an A record.
func query(id uint16, name string) []byte {
	b := []byte{byte(id >> 8), byte(id), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range strings.Split(name, ".") {
		b = append(append(b, byte(len(l))), l...)
	}
	return append(b, 0, 0, 1, 0, 1)
}

// answer answers a query: ip for *.messenger.* and login.live.com, NXDOMAIN otherwise.
func answer(q []byte, ip net.IP) []byte {
	if len(q) < 17 || q[2]&0x80 != 0 {
		return nil
	}
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		n := int(q[i])
		if i+1+n > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+n]))
		i += 1 + n
	}
	if i+5 > len(q) {
		return nil
	}
	name := strings.Join(labels, ".")
	r := append([]byte{}, q[:i+5]...)
	r[2], r[3] = 0x84, 0x80
	if name == "config.messenger.msn.com" || !strings.Contains(name, "messenger") && name != "login.live.com" {
		r[3] |= 3 // NXDOMAIN
		return r
	}
	r[7] = 1
	r = append(r, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
	return append(r, ip...)
}

func client(addr string, rate, secs int) error {
	ops := []func() error{
		func() error { return lookup(addr, "messenger.hotmail.com") },
		func() error {
			c, err := net.DialTimeout("tcp", addr+":1863", 2*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			io.WriteString(c, "VER 1 MSNP18 CVR0\r\n")
			_, err = bufio.NewReader(c).ReadString('\n')
			return err
		},
		func() error {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr+":443",
				&tls.Config{ServerName: "login.live.com", InsecureSkipVerify: true})
			if err != nil {
				return err
			}
			return c.Close()
		},
		func() error {
			c, err := net.Dial("udp", addr+":7001")
			if err != nil {
				return err
			}
			defer c.Close()
			probe := make([]byte, 20)
			probe[0], probe[1] = 2, 1
			binary.BigEndian.PutUint16(probe[10:], 7001)
			_, err = c.Write(probe)
			return err
		},
		func() error {
			c, err := net.DialTimeout("tcp", addr+":1503", 2*time.Second)
			if err == nil {
				c.Close()
			}
			return nil // refused: the point
		},
		func() error { lookup(addr, "config.messenger.msn.com"); return nil },
	}
	total := rate * secs
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fails := map[int]int{}
	end := time.Now().Add(time.Duration(secs) * time.Second)
	for i := 0; i < total && time.Now().Before(end); i++ {
		<-tick.C
		sem <- struct{}{}
		op := i % len(ops)
		wg.Go(func() {
			defer func() { <-sem }()
			if err := ops[op](); err != nil {
				mu.Lock()
				fails[op]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Printf("client: done, failures by op %v\n", fails)
	return nil
}

func lookup(addr, name string) error {
	c, err := net.Dial("udp", addr+":53")
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var id [2]byte
	rand.Read(id[:])
	if _, err := c.Write(query(binary.BigEndian.Uint16(id[:]), name)); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 512))
	return err
}
EOF
(cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -o soakgen soakgen.go)

ip netns add "$nsA"
ip netns add "$nsB"
for ns in "$nsA" "$nsB"; do
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sh -c 'for f in all default; do echo 1 > /proc/sys/net/ipv6/conf/$f/disable_ipv6; done' 2>/dev/null || true
done
ip -n "$nsA" link add a0 type veth peer name b0 netns "$nsB"
ip -n "$nsA" addr add 10.203.0.1/24 dev a0
ip -n "$nsB" addr add 10.203.0.2/24 dev b0
ip -n "$nsA" link set a0 up
ip -n "$nsB" link set b0 up

ip netns exec "$nsB" "$dir/soakgen" server 10.203.0.2 >"$dir/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$dir/server.log" && break; sleep 0.1; done
grep -q ready "$dir/server.log" || { echo "soak.sh: the listeners did not start:"; cat "$dir/server.log"; exit 2; } >&2

# The watch: a failsafe --duration a minute past the soak; stopped with SIGINT before.
# shellcheck disable=SC2086
ip netns exec "$nsB" "$dir/msnaudit" watch -i b0 --metrics 127.0.0.1:9464 --interval 2s --max-listed 2000 \
	--duration "$((minutes + 1))m" --format json -o "$dir/out/report.json" $SOAK_ARGS >"$dir/watch.out" 2>"$dir/watch.err" &
wpid=$!
pids+=("$wpid")
for _ in $(seq 100); do grep -q "msnaudit: watching " "$dir/watch.err" && break; sleep 0.1; done
grep -q "msnaudit: watching " "$dir/watch.err" || { echo "soak.sh: the watch did not start:"; cat "$dir/watch.err"; exit 2; } >&2
sed 's/^/  /' "$dir/watch.err"

ip netns exec "$nsA" timeout "$((minutes * 60 + 30))" "$dir/soakgen" client 10.203.0.2 "$rate" "$((minutes * 60))" >"$dir/client.log" 2>&1 &
cpid=$!
pids+=("$cpid")

# metric NAME: the value of an unlabelled sample of the watch's /metrics (inside B).
scrape() {
	ip netns exec "$nsB" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9464 && printf "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3 && cat <&3' 2>/dev/null || true
}
metric() { awk -v n="$1" '$1 == n { print $2; exit }' <<<"$body"; }

samples=$((minutes * 6))
printf '%6s %10s %10s %12s %10s %10s\n' time rss_mb goroutines packets flows open
rss=()
gor=()
start=$(date +%s)
for i in $(seq 0 "$samples"); do
	# Sample at start + 10 s * i.
	now=$(date +%s)
	wait_s=$((start + 10 * i - now))
	((wait_s > 0)) && sleep "$wait_s"
	kill -0 "$wpid" 2>/dev/null || { echo "soak.sh: the watch ended early:"; cat "$dir/watch.err"; exit 1; } >&2
	r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$wpid/status")
	body=$(scrape)
	g=$(metric go_goroutines)
	printf '%6s %10.1f %10s %12s %10s %10s\n' "$((10 * i))s" "$(bc -l <<<"$r/1024")" "${g:--}" \
		"$(metric msnaudit_packets_total | awk '{ printf "%d", $1 }')" "$(metric msnaudit_flows_total | awk '{ printf "%d", $1 }')" \
		"$(metric msnaudit_flow_table_flows)"
	rss+=("$r")
	gor+=("${g:-0}")
done

wait "$cpid" || true
cat "$dir/client.log"
kill -INT "$wpid"
status=0
wait "$wpid" || status=$?
echo "watch: exit status $status (1: a feature blocked, as the traffic makes it); report $dir/out/report.json"
sed -n '/^  "capture": {/,/^  },/p' "$dir/out/report.json" | grep -E '"(packets|bytes|flows_total|flows_evicted|flows_omitted|kernel_drops|engine)"' |
	tr -d ' ,' | paste -sd' ' | sed 's/^/  /'

# flat NAME VALUES...: the last third's max within 20% of the first third's.
flat() {
	local name=$1
	shift
	local v=("$@") n=$# third first=0 last=0 x
	third=$((n / 3))
	for x in "${v[@]:0:third}"; do ((x > first)) && first=$x; done
	for x in "${v[@]:n-third}"; do ((x > last)) && last=$x; done
	local pct
	pct=$(bc -l <<<"scale=1; ($last - $first) * 100 / $first" | sed 's/^\./0./; s/^-\./-0./; s/^[0-9]/+&/')
	if ((last * 100 <= first * 120)); then
		echo "$name: flat (first third max $first, last third max $last: $pct%)"
		return 0
	fi
	echo "$name: NOT flat (first third max $first, last third max $last: $pct%)"
	return 1
}
verdict=flat
flat "RSS kB" "${rss[@]}" || verdict="not flat"
flat goroutines "${gor[@]}" || verdict="not flat"
echo "verdict: $verdict"
[[ $verdict == flat ]]

#!/usr/bin/env bash
# testdata/bench.sh: how fast msnaudit reads a large capture, next to the usual tools.
#
# Usage, from the repository root:
#
#   testdata/bench.sh [PACKETS] [RUNS]      defaults: 1000000 packets (~900 MB), 5 runs
#
# It installs what is missing from Debian (as root: tcpdump, tshark, GNU time, nDPI's
# ndpiReader; a tool that cannot be installed is reported and its row left out), builds
# msnaudit (CGO_ENABLED=0), generates a gateway-shaped capture once with
# `go run ./testdata/gen -big PACKETS` (plus a .pcapng and a .pcap.gz of the same packets),
# warms the page cache, then times every tool RUNS times, interleaved round by round so
# that they share the machine's noise, with GNU time (wall seconds, peak RSS). It prints a
# markdown table of the medians.
#
# Rows (names for BENCH_SKIP):
#   cat              cat F > /dev/null                          reading floor
#   gzip             gzip -dc F.gz > /dev/null                   decompression floor
#   tcpdump          tcpdump -r F -w /dev/null                   libpcap read and write (-Z root as root)
#   msnaudit         msnaudit audit --format json -o R F         the default: a reader, and auditors on every core
#   msnaudit-1worker ... --workers 1                             a reader and one auditor
#   msnaudit-serial  ... --parallel=false                        one goroutine
#   msnaudit-pcapng  msnaudit on F.pcapng
#   msnaudit-gz      msnaudit on F.pcap.gz
#   ndpi             ndpiReader -i F -q                          nDPI's DPI reader
#   tshark           tshark -r F -q -z conv,tcp                  full dissection, one TCP table
#
# Environment:
#   BENCH_DIR    work directory (default /tmp/msnaudit-bench): binaries, captures (reused when
#                one of the same packet count from the same generator source is there), logs
#   BENCH_SKIP   rows to leave out, comma- or space-separated (e.g. BENCH_SKIP=tshark,ndpi)
#   TSHARK_RUNS  runs for tshark (default min(RUNS, 2): tshark takes ~45 s a run on 1M packets)
#
# msnaudit exits 1 when a feature is blocked or partial: 0 and 1 both count as success.
# The JSON report is written to $BENCH_DIR/report.json, not -o /dev/null: msnaudit writes
# -o through a temporary file renamed over the target, which must not be a device.
set -euo pipefail

packets=${1:-1000000}
runs=${2:-5}
dir=${BENCH_DIR:-/tmp/msnaudit-bench}
skip=${BENCH_SKIP:-}
skip=" ${skip//,/ } "
cmdline=$(printf '%q ' "$0" "$@")
cmdline=${cmdline% }

if [[ ! $packets =~ ^[1-9][0-9]*$ || ! $runs =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: testdata/bench.sh [PACKETS] [RUNS]" >&2
	exit 2
fi
if [[ ! -f go.mod || ! -d cmd/msnaudit || ! -d testdata/gen ]]; then
	echo "bench.sh: run it from the repository root" >&2
	exit 2
fi
tshark_runs=${TSHARK_RUNS:-$((runs < 2 ? runs : 2))}

log() { printf 'bench: %s\n' "$*" >&2; }
skipped() { [[ $skip == *" $1 "* ]]; }

# ---------------------------------------------------------------- tools

updated=
apt_update() { # once, as root, where apt-get is
	[[ $(id -u) == 0 ]] && command -v apt-get >/dev/null || return 1
	if [[ -z $updated ]]; then
		log "apt-get update"
		apt-get update -qq >/dev/null 2>&1 || true
		updated=1
	fi
}

apt_install() { # package
	apt_update || return 1
	log "apt-get install -y $1"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1
}

ndpi_package() { # the Debian package that ships ndpiReader (ndpi-bin, or libndpi-bin on bookworm)
	local p
	for p in ndpi-bin libndpi-bin; do
		if apt-cache show "$p" >/dev/null 2>&1; then
			echo "$p"
			return 0
		fi
	done
	apt-cache search ndpi 2>/dev/null | awk '$1 ~ /ndpi.*-bin$/ {print $1; exit}'
}

declare -A have
ensure() { # row command package
	local row=$1 cmd=$2 pkg=$3
	if skipped "$row"; then return; fi
	if ! command -v "$cmd" >/dev/null 2>&1; then
		if [[ $pkg == ndpi ]]; then
			pkg=
			if apt_update; then
				pkg=$(ndpi_package || true)
			fi
		fi
		if [[ -z $pkg ]] || ! apt_install "$pkg" || ! command -v "$cmd" >/dev/null 2>&1; then
			log "$cmd is not installed and could not be installed${pkg:+ (package $pkg)}: leaving out its row"
			return
		fi
	fi
	have[$row]=1
}

if [[ ! -x /usr/bin/time ]] && ! apt_install time; then
	echo "bench.sh: GNU time (/usr/bin/time) is needed to measure, and could not be installed" >&2
	exit 1
fi
command -v go >/dev/null || { echo "bench.sh: go is needed to build msnaudit" >&2; exit 1; }
ensure cat cat coreutils
ensure gzip gzip gzip
ensure tcpdump tcpdump tcpdump
ensure tshark tshark tshark
ensure ndpi ndpiReader ndpi
for r in msnaudit msnaudit-1worker msnaudit-serial msnaudit-pcapng msnaudit-gz; do
	skipped "$r" || have[$r]=1
done

# ---------------------------------------------------------------- build and generate

mkdir -p "$dir"
log "building msnaudit and the generator into $dir"
CGO_ENABLED=0 go build -o "$dir/msnaudit" ./cmd/msnaudit
CGO_ENABLED=0 go build -o "$dir/gen" ./testdata/gen

# The captures are named by packet count and by the generator's source, so a changed
# generator makes new ones.
src=$(cat testdata/gen/*.go | sha256sum | cut -c1-12)
base="$dir/big-$packets-$src"
pcap="$base.pcap" pcapng="$base.pcapng" gz="$base.pcap.gz"
for f in "$pcap" "$pcapng" "$gz"; do
	if [[ -s $f ]]; then
		log "reusing $f"
		continue
	fi
	log "generating $f"
	tmp="$f.tmp$$"
	case $f in
	*.pcapng) "$dir/gen" -q -big "$packets" -o "$tmp.pcapng" && mv "$tmp.pcapng" "$f" ;;
	*.gz) "$dir/gen" -q -big "$packets" -o "$tmp.gz" && mv "$tmp.gz" "$f" ;;
	*) "$dir/gen" -big "$packets" -o "$tmp" && mv "$tmp" "$f" ;;
	esac
done
rm -f "$dir"/big-*.tmp* 2>/dev/null || true
size=$(stat -c %s "$pcap")
report="$dir/report.json"

log "warming the page cache"
cat "$pcap" "$pcapng" "$gz" >/dev/null

# ---------------------------------------------------------------- runs

rows=(cat gzip tcpdump msnaudit msnaudit-1worker msnaudit-serial msnaudit-pcapng msnaudit-gz ndpi tshark)
declare -A label walls rsss cpus failed
label[cat]='cat (pcap)'
label[gzip]='gzip -dc (pcap.gz)'
label[tcpdump]='tcpdump -r -w /dev/null'
label[msnaudit]='msnaudit (pcap)'
label[msnaudit-1worker]='msnaudit --workers=1 (pcap)'
label[msnaudit-serial]='msnaudit --parallel=false (pcap)'
label[msnaudit-pcapng]='msnaudit (pcapng)'
label[msnaudit-gz]='msnaudit (pcap.gz)'
label[ndpi]='ndpiReader -q'
label[tshark]='tshark -q -z conv,tcp'

timed() { # row outfile errfile command...: run it under GNU time; print "wall rss cpu" or fail
	local row=$1 out=$2 err=$3 tf="$dir/time.$1" rc=0
	shift 3
	/usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" >"$out" 2>"$err" || rc=$?
	case $row:$rc in
	msnaudit*:0 | msnaudit*:1 | *:0) ;;
	*)
		log "${label[$row]} failed (exit $rc): $* (see $err)"
		tail -n 5 "$err" >&2 || true
		return 1
		;;
	esac
	tail -n 1 "$tf" | awk '{printf "%s %s %.2f\n", $1, $2, $3 + $4}'
}

run_row() { # row
	local row=$1 err="$dir/stderr.$1"
	case $row in
	cat) timed "$row" /dev/null "$err" cat "$pcap" ;;
	gzip) timed "$row" /dev/null "$err" gzip -dc "$gz" ;;
	tcpdump) timed "$row" /dev/null "$err" tcpdump "${tcpdump_root[@]}" -r "$pcap" -w /dev/null ;;
	msnaudit) timed "$row" /dev/null "$err" "$dir/msnaudit" audit --format json -o "$report" "$pcap" ;;
	msnaudit-1worker) timed "$row" /dev/null "$err" "$dir/msnaudit" audit --workers 1 --format json -o "$dir/report-1worker.json" "$pcap" ;;
	msnaudit-serial) timed "$row" /dev/null "$err" "$dir/msnaudit" audit --parallel=false --format json -o "$dir/report-serial.json" "$pcap" ;;
	msnaudit-pcapng) timed "$row" /dev/null "$err" "$dir/msnaudit" audit --format json -o "$dir/report-pcapng.json" "$pcapng" ;;
	msnaudit-gz) timed "$row" /dev/null "$err" "$dir/msnaudit" audit --format json -o "$dir/report-gz.json" "$gz" ;;
	ndpi) timed "$row" /dev/null "$err" ndpiReader -i "$pcap" -q ;;
	tshark) timed "$row" /dev/null "$err" tshark -r "$pcap" -q -z conv,tcp ;;
	esac
}

# As root, tcpdump drops to user tcpdump and chowns its -w file, /dev/null included: -Z root keeps it.
tcpdump_root=()
[[ $(id -u) != 0 ]] || tcpdump_root=(-Z root)

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for ((round = 1; round <= runs; round++)); do
	for row in "${rows[@]}"; do
		[[ -n ${have[$row]:-} && -z ${failed[$row]:-} ]] || continue
		if [[ $row == tshark ]] && ((round > tshark_runs)); then continue; fi
		if res=$(run_row "$row"); then
			read -r w m c <<<"$res"
			walls[$row]+="$w "
			rsss[$row]+="$m "
			cpus[$row]+="$c "
			log "round $round/$runs: ${label[$row]}: ${w}s, $((m / 1024)) MB"
		else
			failed[$row]=1
		fi
	done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- table

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

declare -A med
for row in "${rows[@]}"; do
	[[ -n ${walls[$row]:-} ]] && med[$row]=$(median <<<"${walls[$row]}")
done
ref=${med[msnaudit]:-}

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
echo
echo "## msnaudit benchmark"
echo
echo "- command: \`$cmdline\`"
echo "- machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, $mem RAM, Linux $(uname -r); load average $load_start at the start, $load_end at the end ($started)"
echo "- capture: \`$pcap\`, $packets packets, $size bytes ($(awk -v s="$size" 'BEGIN {printf "%.1f", s / 1e6}') MB), generated by \`go run ./testdata/gen -big $packets\`;" \
	"pcapng $(stat -c %s "$pcapng") bytes, pcap.gz $(stat -c %s "$gz") bytes"
echo "- runs: $runs per tool (tshark: $tshark_runs), interleaved; medians; MB/s and packets/s are of the pcap's size and packet count for every row"
version() { # command args...: the first x.y.z in what it prints
	("$@" 2>&1 || true) | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -n 1
}
versions="$(go version | cut -d' ' -f3), msnaudit $(git describe --always --dirty 2>/dev/null || echo '?')"
[[ -z ${have[tcpdump]:-} ]] || versions+=", tcpdump $(version tcpdump --version)"
[[ -z ${have[tshark]:-} ]] || versions+=", tshark $(version tshark -v)"
[[ -z ${have[ndpi]:-} ]] || versions+=", nDPI $(version ndpiReader -h)"
[[ -z ${have[gzip]:-} ]] || versions+=", gzip $(gzip --version 2>&1 | head -n 1 | awk '{print $2}')"
echo "- versions: $versions"
echo
echo "| tool | median wall s | packets/s | MB/s | median peak RSS MB | median CPU s | wall / msnaudit |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for row in "${rows[@]}"; do
	[[ -n ${med[$row]:-} ]] || continue
	rss=$(median <<<"${rsss[$row]}")
	cpu=$(median <<<"${cpus[$row]}")
	awk -v l="${label[$row]}" -v w="${med[$row]}" -v r="$rss" -v c="$cpu" -v p="$packets" -v s="$size" -v ref="$ref" 'BEGIN {
		ratio = (ref > 0) ? sprintf("%.2f", w / ref) : "-"
		if (w > 0) printf "| %s | %.2f | %.0f | %.0f | %.0f | %.2f | %s |\n", l, w, p / w, s / 1e6 / w, r / 1024, c, ratio
		else printf "| %s | %.2f | - | - | %.0f | %.2f | %s |\n", l, w, r / 1024, c, ratio
	}'
done
echo
if [[ -n $ref && -n ${med[tcpdump]:-} ]]; then
	awk -v a="$ref" -v t="${med[tcpdump]}" 'BEGIN {if (t > 0) printf "msnaudit / tcpdump wall: %.2f\n", a / t}'
fi
if [[ -n $ref && -n ${med[cat]:-} ]]; then
	awk -v a="$ref" -v t="${med[cat]}" 'BEGIN {if (t > 0) printf "msnaudit / cat wall: %.2f\n", a / t}'
fi
for row in "${rows[@]}"; do
	[[ -n ${failed[$row]:-} ]] && echo "failed: ${label[$row]} (see $dir/stderr.$row)"
done
[[ -f $report ]] && echo "msnaudit's report: $report"
for r in 1worker serial; do # the same capture, so the same bytes
	[[ -f $report && -f $dir/report-$r.json ]] || continue
	if cmp -s "$report" "$dir/report-$r.json"; then
		echo "report-$r.json is identical to the default run's"
	else
		echo "report-$r.json DIFFERS from the default run's"
	fi
done
exit 0

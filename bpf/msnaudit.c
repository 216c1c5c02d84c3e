//go:build ignore

/* msnaudit's kernel side.
 *
 * tc_l2/tc_l3 (TCX or tc clsact ingress) and tc_l2_egress/tc_l3_egress
 * (egress) only observe and always return TC_ACT_UNSPEC. They count every
 * TCP and UDP packet once into the `flows` LRU hash: at ingress, and at
 * egress unless it came in on a watched interface (a packet a gateway
 * forwards between two watched interfaces passes both hooks). They send
 * user space, through the `events` ring buffer, only what it needs to name
 * and judge flows:
 *   - TCP packets with SYN, FIN or RST set (headers only);
 *   - the first payload bytes of each direction, on ports the rule table
 *     inspects, until user space writes the flow into `named` or the
 *     direction's `payload_budget` is spent;
 *   - DNS (UDP port 53 either way);
 *   - ICMP and ICMPv6 errors (they quote the flow they fail).
 * Which ports are inspected comes from the rule table through `port_class`,
 * written by the loader.
 *
 * on_kfree_skb (tp_btf/kfree_skb, kernel >= 5.17 for the reason argument)
 * reports the packets the kernel drops in the watched network namespace
 * (`watch_netns`) that belong to tracked flows, or that this namespace sent
 * on the rule table's ports, with the drop reason.
 */

#include "headers/kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char __license[] SEC("license") = "Dual MIT/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* Bytes of a packet an event carries at most. */
#define SNAP_MAX 2048
/* Bytes of an ICMP error an event carries at most: the quoted headers. */
#define SNAP_ICMP 256
/* Drop events sent per flow at most (a new reason always gets one). */
#define DROP_EVENTS_MAX 16

/* Event kinds, ORed: why a packet was sent. */
enum event_kind {
	EV_HANDSHAKE = 1 << 0, /* TCP SYN or SYN-ACK */
	EV_CLOSE = 1 << 1,     /* TCP FIN or RST */
	EV_PAYLOAD = 1 << 2,   /* first payload bytes of a direction */
	EV_DNS = 1 << 3,       /* UDP port 53 */
	EV_ICMP = 1 << 4,      /* ICMP/ICMPv6 error */
	EV_DROP = 1 << 5,      /* kfree_skb: the kernel dropped a packet of the flow */
};

/* Link type of an event's bytes (capture.LinkType values). */
enum link_type {
	LINK_ETHERNET = 1,
	LINK_RAW = 101,
};

/* Port classes in port_class: the low nibble for TCP, the high for UDP.
 * The rule table's wide ranges are not here: every TCP and UDP flow is
 * counted, and a range port's payload is not inspected. */
enum port_bits {
	PORT_DISTINCTIVE = 1 << 0,
	PORT_SHARED = 1 << 1,
	PORT_INSPECT = 1 << 3, /* payload is sent to user space to name the flow */
};

/* A flow: its two endpoints in canonical order (a <= b comparing the
 * IPv4-mapped address bytes, then the port), as classify keys its flows.
 * Ports in host order. */
struct flow_key {
	__u8 a[16];
	__u8 b[16];
	__u16 aport;
	__u16 bport;
	__u8 proto;
	__u8 pad[3];
};

/* One direction's counters (dir[0]: a -> b, dir[1]: b -> a). */
struct dir_stats {
	__u64 packets;
	__u64 bytes;            /* skb->len: from the link header on */
	__u64 payload;          /* transport payload bytes */
	__u64 first_payload_ns; /* 0: none yet */
	__u64 sampled;          /* payload bytes sent to user space */
	__u32 syns;             /* SYNs without ACK, or SYN-ACKs */
	__u32 flags;            /* TCP flags seen, ORed */
};

struct flow_stats {
	struct dir_stats dir[2];
	__u64 first_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 last_ns;
	__u64 drops;       /* packets the kernel dropped */
	__u32 drop_reason; /* the last drop's reason (enum skb_drop_reason) */
	__u8 first_dir;    /* direction of the first packet seen */
	__u8 client_dir;   /* 1 + direction of the first SYN (or from a SYN-ACK); 0: none seen */
	__u8 pad[2];
};

/* What the ring buffer carries: this header, then cap_len packet bytes
 * (none for EV_DROP). */
struct event {
	__u64 ts_ns;
	__u32 ifindex;
	__u32 wire_len;    /* the packet's length */
	__u32 drop_reason; /* EV_DROP */
	__u16 cap_len;     /* bytes following the header */
	__u8 kind;         /* enum event_kind, ORed */
	__u8 dir;          /* the packet's direction in key: 0 a -> b, 1 b -> a */
	__u16 link;        /* enum link_type of the bytes */
	__u8 pad[6];
	struct flow_key key; /* zero for EV_ICMP */
};

/* Health counters, per CPU. */
enum stat_index {
	STAT_FLOWS_CREATED,   /* entries the programs inserted into flows */
	STAT_FLOWS_FAILED,    /* inserts that failed */
	STAT_EVENTS_LOST,     /* events the ring buffer had no room for */
	STAT_PACKETS,         /* packets the tc programs counted (a forwarded one once) */
	STAT_NOT_TRACKED,     /* IP packets without a TCP/UDP flow (ICMP, later fragments, ...) */
	STAT_DROPS,           /* kfree_skb drops of tracked flows */
	STAT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

/* Flows user space has named: their payload is no longer sent. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, __u8);
} named SEC(".maps");

/* The ifindexes of the interfaces the tc programs are attached to, written
 * by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} watched SEC(".maps");

/* Port -> enum port_bits (TCP in the low nibble, UDP in the high). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} port_class SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct scratch {
	struct event hdr;
	__u8 data[SNAP_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* Set by the loader. */
volatile const __u32 payload_budget = 4096;       /* payload bytes per direction sent at most */
volatile const __u32 reason_not_dropped = 0;      /* SKB_NOT_DROPPED_YET */
volatile const __u32 reason_consumed = 0xffffffff; /* SKB_CONSUMED, if the kernel has it */
volatile const __u32 watch_netns = 0;             /* ns.inum of the watched network namespace; 0: all */

/* Unused, but keep the enums in BTF for bpf2go's -type. */
const enum event_kind *unused_event_kind __attribute__((unused));
const enum port_bits *unused_port_bits __attribute__((unused));
const enum stat_index *unused_stat_index __attribute__((unused));
const enum link_type *unused_link_type __attribute__((unused));

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1; /* per CPU: no atomics needed */
}

/* A parsed packet. */
struct pkt {
	struct flow_key key;
	__u32 l4off;     /* offset of the transport header */
	__u32 payoff;    /* offset of the transport payload */
	__u32 paylen;    /* transport payload bytes (from the IP lengths) */
	__u16 sport, dport;
	__u8 saddr[16], daddr[16];
	__u8 proto;
	__u8 tcp_flags;
	__u8 icmp_error;
	__u8 dir;
};

static __always_inline void map4(__u8 *dst, __be32 a)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &a, 4);
}

/* less reports whether (x, xp) < (y, yp): address bytes, then port. */
static __always_inline bool less(const __u8 *x, __u16 xp, const __u8 *y, __u16 yp)
{
	__u64 x0, x1, y0, y1;
	__builtin_memcpy(&x0, x, 8);
	__builtin_memcpy(&x1, x + 8, 8);
	__builtin_memcpy(&y0, y, 8);
	__builtin_memcpy(&y1, y + 8, 8);
	x0 = bpf_be64_to_cpu(x0);
	y0 = bpf_be64_to_cpu(y0);
	if (x0 != y0)
		return x0 < y0;
	x1 = bpf_be64_to_cpu(x1);
	y1 = bpf_be64_to_cpu(y1);
	if (x1 != y1)
		return x1 < y1;
	return xp < yp;
}

static __always_inline void make_key(struct pkt *p)
{
	if (less(p->daddr, p->dport, p->saddr, p->sport)) {
		__builtin_memcpy(p->key.a, p->daddr, 16);
		__builtin_memcpy(p->key.b, p->saddr, 16);
		p->key.aport = p->dport;
		p->key.bport = p->sport;
		p->dir = 1;
	} else {
		__builtin_memcpy(p->key.a, p->saddr, 16);
		__builtin_memcpy(p->key.b, p->daddr, 16);
		p->key.aport = p->sport;
		p->key.bport = p->dport;
		p->dir = 0;
	}
	p->key.proto = p->proto;
}

static __always_inline bool is_icmp_error(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == 3 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

enum parse_result {
	PARSE_FLOW,  /* a TCP or UDP packet: p->key is set */
	PARSE_ICMP,  /* an ICMP error */
	PARSE_OTHER, /* nothing to track */
};

/* parse reads the headers of skb through bpf_skb_load_bytes, which checks
 * every read against the packet (paged data included). */
static __always_inline int parse(struct __sk_buff *skb, bool l3, struct pkt *p)
{
	__u32 off = 0;
	__u16 proto;
	__u32 iplen; /* transport bytes from the IP header */

	if (l3) {
		proto = bpf_ntohs((__u16)skb->protocol);
	} else {
		__be16 eth_proto;
		if (bpf_skb_load_bytes(skb, 12, &eth_proto, 2) < 0)
			return PARSE_OTHER;
		proto = bpf_ntohs(eth_proto);
		off = 14;
#pragma unroll
		for (int i = 0; i < 2; i++) {
			if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
				break;
			if (bpf_skb_load_bytes(skb, off + 2, &eth_proto, 2) < 0)
				return PARSE_OTHER;
			proto = bpf_ntohs(eth_proto);
			off += 4;
		}
	}

	if (proto == ETH_P_IP) {
		__u8 ip[20];
		if (bpf_skb_load_bytes(skb, off, ip, sizeof(ip)) < 0)
			return PARSE_OTHER;
		__u32 ihl = (ip[0] & 0x0f) * 4;
		if ((ip[0] >> 4) != 4 || ihl < 20)
			return PARSE_OTHER;
		__u32 tot = ((__u32)ip[2] << 8) | ip[3];
		if (tot < ihl)
			return PARSE_OTHER;
		if ((((__u32)ip[6] << 8 | ip[7]) & 0x1fff) != 0)
			return PARSE_OTHER; /* a fragment after the first: no ports */
		p->proto = ip[9];
		__be32 a;
		__builtin_memcpy(&a, ip + 12, 4);
		map4(p->saddr, a);
		__builtin_memcpy(&a, ip + 16, 4);
		map4(p->daddr, a);
		off += ihl;
		iplen = tot - ihl;
	} else if (proto == ETH_P_IPV6) {
		__u8 ip6[40];
		if (bpf_skb_load_bytes(skb, off, ip6, sizeof(ip6)) < 0)
			return PARSE_OTHER;
		if ((ip6[0] >> 4) != 6)
			return PARSE_OTHER;
		iplen = ((__u32)ip6[4] << 8) | ip6[5];
		__u8 nh = ip6[6];
		__builtin_memcpy(p->saddr, ip6 + 8, 16);
		__builtin_memcpy(p->daddr, ip6 + 24, 16);
		off += 40;
		/* Extension headers: hop-by-hop, routing, fragment, destination
		 * options, AH; a few at most. */
#pragma unroll
		for (int i = 0; i < 4; i++) {
			__u8 ext[4];
			__u32 len;
			if (nh != 0 && nh != 43 && nh != 44 && nh != 60 && nh != 51)
				break;
			if (bpf_skb_load_bytes(skb, off, ext, sizeof(ext)) < 0)
				return PARSE_OTHER;
			if (nh == 44) {
				if (((((__u32)ext[2] << 8) | ext[3]) & 0xfff8) != 0)
					return PARSE_OTHER; /* not the first fragment */
				len = 8;
			} else if (nh == 51) {
				len = ((__u32)ext[1] + 2) * 4;
			} else {
				len = ((__u32)ext[1] + 1) * 8;
			}
			if (iplen < len)
				return PARSE_OTHER;
			iplen -= len;
			off += len;
			nh = ext[0];
		}
		p->proto = nh;
	} else {
		return PARSE_OTHER;
	}

	p->l4off = off;
	if (p->proto == IPPROTO_TCP) {
		__u8 tcp[14];
		if (bpf_skb_load_bytes(skb, off, tcp, sizeof(tcp)) < 0)
			return PARSE_OTHER;
		__u32 doff = (tcp[12] >> 4) * 4;
		if (doff < 20 || iplen < doff)
			return PARSE_OTHER;
		p->sport = ((__u16)tcp[0] << 8) | tcp[1];
		p->dport = ((__u16)tcp[2] << 8) | tcp[3];
		p->tcp_flags = tcp[13];
		p->payoff = off + doff;
		p->paylen = iplen - doff;
	} else if (p->proto == IPPROTO_UDP) {
		__u8 udp[4];
		if (bpf_skb_load_bytes(skb, off, udp, sizeof(udp)) < 0)
			return PARSE_OTHER;
		if (iplen < 8)
			return PARSE_OTHER;
		p->sport = ((__u16)udp[0] << 8) | udp[1];
		p->dport = ((__u16)udp[2] << 8) | udp[3];
		p->payoff = off + 8;
		p->paylen = iplen - 8;
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		__u8 type;
		if (bpf_skb_load_bytes(skb, off, &type, 1) < 0)
			return PARSE_OTHER;
		return is_icmp_error(p->proto, type) ? PARSE_ICMP : PARSE_OTHER;
	} else {
		return PARSE_OTHER;
	}
	make_key(p);
	return PARSE_FLOW;
}

static __always_inline __u8 port_bits(__u16 port, bool tcp)
{
	__u32 k = port;
	__u8 *v = bpf_map_lookup_elem(&port_class, &k);
	if (!v)
		return 0;
	return tcp ? (*v & 0x0f) : (*v >> 4);
}

/* send copies the first cap bytes of skb into an event. */
static __always_inline void send(struct __sk_buff *skb, struct pkt *p, __u8 kind, __u32 cap, __u16 link, __u64 now)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return;
	if (cap > skb->len)
		cap = skb->len;
	if (cap > SNAP_MAX)
		cap = SNAP_MAX;
	if (cap < 1)
		return;
	__builtin_memset(&s->hdr, 0, sizeof(s->hdr));
	s->hdr.ts_ns = now;
	s->hdr.ifindex = skb->ifindex;
	s->hdr.wire_len = skb->len;
	s->hdr.cap_len = cap;
	s->hdr.kind = kind;
	s->hdr.dir = p->dir;
	s->hdr.link = link;
	if (!(kind & EV_ICMP))
		s->hdr.key = p->key;
	if (bpf_skb_load_bytes(skb, 0, s->data, cap) < 0)
		return;
	if (bpf_ringbuf_output(&events, s, sizeof(s->hdr) + cap, 0) < 0)
		count(STAT_EVENTS_LOST);
}

static __always_inline struct flow_stats *flow_entry(struct pkt *p, __u64 now)
{
	struct flow_stats *f = bpf_map_lookup_elem(&flows, &p->key);
	if (f)
		return f;
	struct flow_stats init = {};
	init.first_ns = now;
	init.first_dir = p->dir;
	if (bpf_map_update_elem(&flows, &p->key, &init, BPF_NOEXIST) == 0)
		count(STAT_FLOWS_CREATED);
	f = bpf_map_lookup_elem(&flows, &p->key);
	if (!f)
		count(STAT_FLOWS_FAILED);
	return f;
}

static __always_inline int observe(struct __sk_buff *skb, bool l3, bool egress)
{
	struct pkt p = {};
	__u64 now = bpf_ktime_get_ns();
	__u16 link = l3 ? LINK_RAW : LINK_ETHERNET;

	/* At egress, a packet this host received (ingress_ifindex is the
	 * interface it came in on; 0 for one it made) was counted at that
	 * interface's ingress if it is watched. */
	if (egress) {
		__u32 in = skb->ingress_ifindex;
		if (in && bpf_map_lookup_elem(&watched, &in))
			return TC_ACT_UNSPEC;
	}
	count(STAT_PACKETS);
	int r = parse(skb, l3, &p);
	if (r == PARSE_ICMP) {
		count(STAT_NOT_TRACKED);
		send(skb, &p, EV_ICMP, p.l4off + SNAP_ICMP, link, now);
		return TC_ACT_UNSPEC;
	}
	if (r != PARSE_FLOW) {
		count(STAT_NOT_TRACKED);
		return TC_ACT_UNSPEC;
	}

	struct flow_stats *f = flow_entry(&p, now);
	if (!f)
		return TC_ACT_UNSPEC;
	bool tcp = p.proto == IPPROTO_TCP;
	__u8 fl = p.tcp_flags;
	bool syn = tcp && (fl & (TCP_SYN | TCP_ACK)) == TCP_SYN;

	/* A new connection on the same port pair after the last one closed:
	 * start the counters again (classify starts a new flow too). */
	if (syn && ((f->dir[0].flags | f->dir[1].flags) & (TCP_FIN | TCP_RST))) {
		struct flow_stats init = {};
		init.first_ns = now;
		init.first_dir = p.dir;
		bpf_map_update_elem(&flows, &p.key, &init, BPF_EXIST);
		f = bpf_map_lookup_elem(&flows, &p.key);
		if (!f)
			return TC_ACT_UNSPEC;
	}

	struct dir_stats *d = &f->dir[p.dir & 1];
	__sync_fetch_and_add(&d->packets, 1);
	__sync_fetch_and_add(&d->bytes, skb->len);
	f->last_ns = now;
	if (tcp) {
		if (fl & ~d->flags)
			__sync_fetch_and_or(&d->flags, (__u32)fl);
		bool synack = (fl & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK);
		if (syn || synack)
			__sync_fetch_and_add(&d->syns, 1);
		if (!f->client_dir && (syn || synack))
			f->client_dir = syn ? p.dir + 1 : 2 - p.dir;
	}

	__u8 kind = 0;
	__u32 cap = p.payoff; /* headers only */
	if (tcp && (fl & (TCP_SYN | TCP_FIN | TCP_RST)))
		kind |= (fl & TCP_SYN) ? EV_HANDSHAKE : EV_CLOSE;
	if (!tcp && (p.sport == 53 || p.dport == 53)) {
		kind |= EV_DNS;
		cap = SNAP_MAX;
	}
	if (p.paylen > 0) {
		__sync_fetch_and_add(&d->payload, p.paylen);
		if (!d->first_payload_ns)
			d->first_payload_ns = now;
		__u8 cls = port_bits(p.sport, tcp) | port_bits(p.dport, tcp);
		/* A UDP flow's first datagram of each direction is always
		 * inspected: classify names UDP flows (echo probe, SIP, TURN)
		 * from it. */
		bool first_udp = !tcp && d->sampled == 0;
		if ((cls & PORT_INSPECT) || first_udp) {
			__u64 sampled = d->sampled;
			if (sampled < payload_budget && !bpf_map_lookup_elem(&named, &p.key)) {
				__u32 left = payload_budget - (__u32)sampled;
				__u32 take = p.paylen < left ? p.paylen : left;
				__sync_fetch_and_add(&d->sampled, take);
				kind |= EV_PAYLOAD;
				if (!(kind & EV_DNS))
					cap = p.payoff + take;
			}
		}
	}
	if (kind)
		send(skb, &p, kind, cap, link, now);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tc_l2(struct __sk_buff *skb)
{
	return observe(skb, false, false);
}

SEC("tc")
int tc_l2_egress(struct __sk_buff *skb)
{
	return observe(skb, false, true);
}

/* For devices without a link header (tun, WireGuard, ...). */
SEC("tc")
int tc_l3(struct __sk_buff *skb)
{
	return observe(skb, true, false);
}

SEC("tc")
int tc_l3_egress(struct __sk_buff *skb)
{
	return observe(skb, true, true);
}

/* read_flow parses the IP and transport headers of a kernel skb at its
 * network header. */
static __always_inline bool read_flow(struct sk_buff *skb, struct pkt *p)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	if (!head || nh == (__u16)~0U)
		return false;
	unsigned char *ip = head + nh;
	__u8 ver;
	if (bpf_probe_read_kernel(&ver, 1, ip) < 0)
		return false;
	__u32 l4;
	if ((ver >> 4) == 4) {
		__u8 h[20];
		if (bpf_probe_read_kernel(h, sizeof(h), ip) < 0)
			return false;
		if ((((__u32)h[6] << 8 | h[7]) & 0x1fff) != 0)
			return false;
		__be32 a;
		__builtin_memcpy(&a, h + 12, 4);
		map4(p->saddr, a);
		__builtin_memcpy(&a, h + 16, 4);
		map4(p->daddr, a);
		p->proto = h[9];
		l4 = (h[0] & 0x0f) * 4;
		if (l4 < 20)
			return false;
	} else if ((ver >> 4) == 6) {
		__u8 h[40];
		if (bpf_probe_read_kernel(h, sizeof(h), ip) < 0)
			return false;
		__builtin_memcpy(p->saddr, h + 8, 16);
		__builtin_memcpy(p->daddr, h + 24, 16);
		p->proto = h[6];
		l4 = 40;
	} else {
		return false;
	}
	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
		return false;
	__u8 ports[4];
	if (bpf_probe_read_kernel(ports, sizeof(ports), ip + l4) < 0)
		return false;
	p->sport = ((__u16)ports[0] << 8) | ports[1];
	p->dport = ((__u16)ports[2] << 8) | ports[3];
	make_key(p);
	return true;
}

/* skb_netns is the inode number of the network namespace an skb is in:
 * its device's, or (on the output path, before it has one) its socket's;
 * 0 if it has neither. */
static __always_inline __u32 skb_netns(struct sk_buff *skb)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	if (dev)
		return BPF_CORE_READ(dev, nd_net.net, ns.inum);
	struct sock *sk = BPF_CORE_READ(skb, sk);
	if (sk)
		return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(on_kfree_skb, struct sk_buff *skb, void *location, int reason)
{
	__u32 r = (__u32)reason;
	if (r == reason_not_dropped || r == reason_consumed)
		return 0;
	/* Another namespace's drop (a container's, the far end of a veth
	 * with the same 5-tuple) is none of this watch's business. */
	if (watch_netns && skb_netns(skb) != watch_netns)
		return 0;
	struct pkt p = {};
	if (!read_flow(skb, &p))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct flow_stats *f = bpf_map_lookup_elem(&flows, &p.key);
	if (!f) {
		/* A packet this host's own output path dropped never reached
		 * the tc egress program: track it if this host sent it (it has
		 * a socket: not a packet that came in on an interface not
		 * watched) and the rule table names its ports. */
		if (!BPF_CORE_READ(skb, sk))
			return 0;
		bool tcp = p.proto == IPPROTO_TCP;
		__u8 cls = port_bits(p.sport, tcp) | port_bits(p.dport, tcp);
		if (!(cls & (PORT_DISTINCTIVE | PORT_SHARED | PORT_INSPECT)))
			return 0;
		f = flow_entry(&p, now);
		if (!f)
			return 0;
	}
	count(STAT_DROPS);
	__u64 n = __sync_fetch_and_add(&f->drops, 1);
	__u32 last = f->drop_reason;
	f->drop_reason = r;
	if (n >= DROP_EVENTS_MAX && last == r)
		return 0;

	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(STAT_EVENTS_LOST);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->ifindex = BPF_CORE_READ(skb, skb_iif);
	e->wire_len = BPF_CORE_READ(skb, len);
	e->drop_reason = r;
	e->kind = EV_DROP;
	e->dir = p.dir;
	e->link = LINK_RAW;
	e->key = p.key;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

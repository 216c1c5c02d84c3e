/* The few kernel definitions msnaudit.c needs, written out instead of a
 * generated vmlinux.h so that the object does not depend on the kernel it was
 * built on. UAPI structures keep their (stable) layout; struct sk_buff is
 * read through CO-RE (preserve_access_index), so its field offsets come from
 * the running kernel's BTF at load time. */
#pragma once

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u32 __wsum;
typedef _Bool bool;
#define true 1
#define false 0

/* include/uapi/linux/bpf.h */
enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

/* Only the prefix of struct __sk_buff that msnaudit.c reads; the verifier
 * rewrites these context accesses by their UAPI offsets. */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
};

/* include/uapi/linux/pkt_cls.h: "no opinion", the next program or the
 * default action runs (TCX_NEXT has the same value). */
#define TC_ACT_UNSPEC (-1)

/* include/linux/skbuff.h and what leads from an skb to its network
 * namespace's inode number, through CO-RE. */
struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} __attribute__((preserve_access_index)) possible_net_t;

struct net_device {
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

struct sock_common {
	possible_net_t skc_net;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	unsigned char *head;
	__u16 transport_header;
	__u16 network_header;
	__u16 mac_header;
	__be16 protocol;
	unsigned int len;
	int skb_iif;
} __attribute__((preserve_access_index));

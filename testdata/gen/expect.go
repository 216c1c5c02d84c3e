package main

// The ground truth written next to each capture as <file>.expect.json.

import (
	"encoding/json"
	"net/netip"
	"sort"
	"time"
)

// Article feature names (DESIGN.md), plus "possible" for wide-range-only flows
// and "" for background traffic.
const (
	signIn       = "Sign in to the Messenger service"
	netDetect    = "Network detection"
	voiceVideo   = "Voice and video"
	webcam       = "Webcam and video conversations"
	fileTransfer = "File transfer"
	whiteboard   = "Whiteboard and application sharing"
	remoteAssist = "Remote Assistance"
	liveCall     = "Windows Live Call"
	games        = "Games"
	possible     = "possible"
	background   = ""
)

// Outcomes (DESIGN.md).
const (
	ok              = "ok"
	refused         = "refused"
	dropped         = "dropped"
	reset           = "reset"
	resetAfterHello = "reset_after_hello"
	icmpUnreachable = "icmp_unreachable"
	proxyAuth       = "proxy_auth"
	httpBlocked     = "http_blocked"
	dnsFailed       = "dns_failed"
	dnsSinkhole     = "dns_sinkhole"
	incomplete      = "incomplete"
)

// want is what a scenario expects of one flow.
type want struct {
	outcome, feature, host, note string
}

// Expectation is the content of a .expect.json file.
type Expectation struct {
	Flows     []flowExp   `json:"flows"`
	Lookups   []lookupExp `json:"lookups"`
	Packets   int         `json:"packets"`
	Malformed int         `json:"malformed"`
	Truncated bool        `json:"truncated"`
	Fragments int         `json:"fragments,omitempty"` // IP fragment packets (fragments.pcap, ipv6.pcapng)
	First     string      `json:"first,omitempty"`     // first packet time, RFC 3339 with nanoseconds
	Last      string      `json:"last,omitempty"`      // last packet time
}

// badExpectation is the .expect.json of an input msnaudit must reject or that is cut short.
type badExpectation struct {
	Error     string `json:"error,omitempty"` // what is wrong; "" when the file is readable
	Packets   int    `json:"packets"`         // packets readable before the problem
	Malformed int    `json:"malformed"`
	Truncated bool   `json:"truncated"`
	Offset    int    `json:"offset,omitempty"` // where the problem is: start of the bad record or block, or the bad file-header field
	Note      string `json:"note,omitempty"`
}

type flowExp struct {
	Transport string `json:"transport"`
	Client    string `json:"client"`
	Server    string `json:"server"`
	Outcome   string `json:"outcome"`
	Feature   string `json:"feature"`
	Host      string `json:"host"`
	Note      string `json:"note,omitempty"` // what the flow is there to test

	first time.Time
	seen  bool
}

type lookupExp struct {
	Name    string   `json:"name"`
	Rcode   string   `json:"rcode"`
	Answers []string `json:"answers"`
	Outcome string   `json:"outcome"`
}

func (c *capture) addFlow(transport string, cli, srv netip.AddrPort, w want) *flowExp {
	f := &flowExp{Transport: transport, Client: cli.String(), Server: srv.String(),
		Outcome: w.outcome, Feature: w.feature, Host: w.host, Note: w.note}
	c.flows = append(c.flows, f)
	return f
}

// touch records the flow's first packet time.
func (f *flowExp) touch(c *capture) {
	if !f.seen {
		f.first, f.seen = c.t0.Add(c.now), true
	}
}

// expectation is the ground truth of c.
func (c *capture) expectation() Expectation {
	e := Expectation{Flows: []flowExp{}, Lookups: c.lookups, Packets: len(c.pkts), Fragments: c.frags}
	if e.Lookups == nil {
		e.Lookups = []lookupExp{}
	}
	for _, f := range c.flows {
		if !f.seen {
			panic("flow without packets: " + f.Client + " " + f.Server)
		}
		e.Flows = append(e.Flows, *f)
	}
	sort.SliceStable(e.Flows, func(i, j int) bool { return e.Flows[i].first.Before(e.Flows[j].first) })
	if len(c.pkts) > 0 {
		e.First = c.pkts[0].ts.Format(time.RFC3339Nano)
		e.Last = c.pkts[len(c.pkts)-1].ts.Format(time.RFC3339Nano)
	}
	return e
}

func marshalExpect(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

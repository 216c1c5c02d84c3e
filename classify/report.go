package classify

// Schema is the JSON report's schema name: a contract other tools parse.
const Schema = "msnaudit/report/v1"

// Report is the audit's result, shaped as DESIGN.md's msnaudit/report/v1.
// Fields are only ever added, never renamed.
type Report struct {
	Schema   string          `json:"schema"`
	Rules    string          `json:"rules"`
	Capture  CaptureSummary  `json:"capture"`
	Features []FeatureResult `json:"features"`
	URLs     []URLResult     `json:"urls"`
	Flows    []FlowRecord    `json:"flows"`
	Lookups  []LookupRecord  `json:"lookups"`
	Hints    []Hint          `json:"hints"`
}

// CaptureSummary describes what was read.
type CaptureSummary struct {
	Inputs    []string `json:"inputs"`
	First     string   `json:"first"` // RFC 3339 with nanoseconds, UTC; "" for no packets
	Last      string   `json:"last"`
	Packets   uint64   `json:"packets"`
	Bytes     uint64   `json:"bytes"`
	Malformed uint64   `json:"malformed"`
	Truncated bool     `json:"truncated"`
	// Added fields (v1 only ever adds).
	Fragments    uint64 `json:"fragments"`     // IP fragments seen
	NonIP        uint64 `json:"non_ip"`        // packets that carry no IP (ARP, LLDP, ...)
	FlowsTotal   uint64 `json:"flows_total"`   // flows of every kind
	FlowsEvicted uint64 `json:"flows_evicted"` // flows finished early because the flow table was full
	FlowsOmitted uint64 `json:"flows_omitted"` // flows counted but not listed (over the listing limit)
	// ForwardedCopies counts packets seen a second time on another
	// interface (a gateway captured on both sides): each counted once in
	// its flow. Absent when none.
	ForwardedCopies uint64 `json:"forwarded_copies,omitempty"`
	// KernelDrops counts packets a live capture's kernel dropped (its ring was
	// full): verdicts may be affected. Absent for capture files.
	KernelDrops uint64 `json:"kernel_drops,omitempty"`
	// Engine is the live capture's engine: "afpacket" or "ebpf". Absent for
	// capture files.
	Engine string `json:"engine,omitempty"`
	// EventsLost counts records the eBPF engine's ring buffer had no room
	// for (handshakes, first payload bytes, DNS, ICMP errors, drops): the
	// kernel still counted the packets, but verdicts may be affected.
	EventsLost uint64 `json:"events_lost,omitempty"`
	// KernelFlowsEvicted counts flows the eBPF engine's kernel flow table
	// evicted or could not take because it was full: their counts may be low.
	KernelFlowsEvicted uint64 `json:"kernel_flows_evicted,omitempty"`
	// KernelDropsUnavailable says why the eBPF engine cannot report this
	// host's own drops (kernel_drop outcomes); absent when it can.
	KernelDropsUnavailable string `json:"kernel_drops_unavailable,omitempty"`
	// Flows whose split ClientHello/HTTP head was not reassembled because
	// the reassembly memory budget was spent.
	ReassemblyDropped uint64 `json:"reassembly_dropped"`
}

// FeatureResult is the verdict for one article feature.
type FeatureResult struct {
	Feature  string         `json:"feature"`
	Verdict  Verdict        `json:"verdict"`
	Flows    int            `json:"flows"`
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"` // failed flows and failed lookups of the feature's names
	Possible int            `json:"possible"`
	Outcomes map[string]int `json:"outcomes"`
	Ports    string         `json:"ports"`    // the article's ports for the feature
	Evidence string         `json:"evidence"` // the strongest evidence among its flows
}

// URLResult is the verdict for one row of the article's URL table.
type URLResult struct {
	URL      string  `json:"url"`
	Function string  `json:"function"`
	Verdict  Verdict `json:"verdict"`
	Flows    int     `json:"flows"`
	OK       int     `json:"ok"`
	Failed   int     `json:"failed"`
	Source   string  `json:"source"` // article, kb927847, inferred, practice
}

// FlowRecord is one flow of the capture.
type FlowRecord struct {
	Transport  string   `json:"transport"`
	Client     string   `json:"client"`
	Server     string   `json:"server"`
	Host       string   `json:"host"`
	HostSource string   `json:"host_source"` // sni, http, connect, dns, msnp (an XFR/RNG redirect), or ""
	URL        string   `json:"url"`
	Features   []string `json:"features"`
	Evidence   string   `json:"evidence"` // host, signature, signaling, port, range, or "" (not Messenger)
	Outcome    Outcome  `json:"outcome"`
	Detail     string   `json:"detail"`
	First      string   `json:"first"`
	Last       string   `json:"last"`
	Packets    uint64   `json:"packets"`
	Bytes      uint64   `json:"bytes"`
	Signature  string   `json:"signature,omitempty"` // the protocol signature seen, if any
}

// Possible reports whether only a wide port range ties the flow to Messenger.
func (f *FlowRecord) Possible() bool { return f.Evidence == "range" }

// LookupRecord is the DNS lookup of one Messenger name.
type LookupRecord struct {
	Name     string   `json:"name"`
	RCode    string   `json:"rcode"`
	Answers  []string `json:"answers"`
	Outcome  Outcome  `json:"outcome"`
	Features []string `json:"features"`
	Queries  int      `json:"queries"`
	First    string   `json:"first"`
	URL      string   `json:"url"`
}

// Hint says what to open, in the article's terms.
type Hint struct {
	Feature string `json:"feature"`
	Text    string `json:"text"`
}

// Blocked reports whether any feature is blocked or partial: the exit status.
func (r *Report) Blocked() bool {
	for _, f := range r.Features {
		if f.Verdict == Blocked || f.Verdict == Partial {
			return true
		}
	}
	return false
}

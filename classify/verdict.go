package classify

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// maxTargets is how many failed targets a feature's hint names.
const maxTargets = 8

// Evidence kinds, strongest first.
var evidenceRank = map[string]int{"host": 5, "signaling": 4, "signature": 3, "port": 2, "range": 1}

// reason is why a flow got its outcome: outcome judges, explain words it,
// only for the flows a report lists (a flood of flows formats nothing).
type reason uint8

const (
	rNone reason = iota
	rUDPICMP
	rUDPIncomplete
	rUDPDropped
	rProxyAuth
	rHTTPStatus
	rRefused
	rSYNICMP
	rSYNIncomplete
	rSYNDropped
	rResetAfterData
	rMidstream
	rHelloRST
	rHelloFIN
	rHelloICMP
	rHelloGaveUp
	rHelloIncomplete
	rHelloSilence
	rResetAfterHandshake
	rNoPayload
	rKernelDrop
)

// outcome judges a flow at time end (the capture's end, or when the flow
// was finished early), with its explanation.
func (a *Auditor) outcome(f *flow, end int64) (Outcome, string) {
	o, r := a.judgeOutcome(f, end)
	return o, a.explain(f, r, end)
}

func (a *Auditor) judgeOutcome(f *flow, end int64) (Outcome, reason) {
	o, r := a.judgeTraffic(f, end)
	if f.kdrop != nil && kernelDropExplains(o) {
		return KernelDrop, rKernelDrop
	}
	return o, r
}

// judgeTraffic judges a flow from its packets alone.
func (a *Auditor) judgeTraffic(f *flow, end int64) (Outcome, reason) {
	grace := int64(a.cfg.Grace)
	if f.proto == protoUDP {
		switch {
		case f.s2c.packets > 0:
			return OK, rNone
		case f.icmp:
			return ICMPUnreachable, rUDPICMP
		case end-f.last < grace:
			return Incomplete, rUDPIncomplete
		}
		return Dropped, rUDPDropped
	}
	if f.httpStatus == 407 {
		return ProxyAuth, rProxyAuth
	}
	if f.httpStatus >= 400 && f.httpStatus != 401 { // 401 is an authentication challenge, part of the service
		return HTTPBlocked, rHTTPStatus
	}
	if !f.synAck && !f.midstream {
		switch {
		case f.s2c.rstAt != 0:
			return Refused, rRefused
		case f.icmp:
			return ICMPUnreachable, rSYNICMP
		case end-f.c2s.lastSYN < grace:
			return Incomplete, rSYNIncomplete
		}
		return Dropped, rSYNDropped
	}
	// A client that aborts its own connection with RST (WinINet does) is not
	// the network failing it: only the server side's RST or FIN count here,
	// which is also where a middlebox's forged RST appears in a client's capture.
	srvRST, srvFIN := f.s2c.rstAt, f.s2c.finAt
	if f.s2c.payload > 0 {
		if srvRST != 0 && (srvFIN == 0 || srvFIN > srvRST) && (f.c2s.finAt == 0 || f.c2s.finAt > srvRST) {
			return Reset, rResetAfterData
		}
		return OK, rNone
	}
	if f.midstream {
		return Incomplete, rMidstream
	}
	if f.c2s.payload > 0 {
		switch {
		case srvRST != 0:
			return ResetAfterHello, rHelloRST
		case srvFIN != 0:
			return ResetAfterHello, rHelloFIN
		case f.icmp:
			return ICMPUnreachable, rHelloICMP
		case min0(f.c2s.rstAt, f.c2s.finAt) != 0:
			return Dropped, rHelloGaveUp
		case end-f.c2s.firstPayload < grace:
			return Incomplete, rHelloIncomplete
		}
		return Dropped, rHelloSilence
	}
	if srvRST != 0 {
		return Reset, rResetAfterHandshake
	}
	return OK, rNoPayload
}

// explain words why a flow got its outcome.
func (a *Auditor) explain(f *flow, r reason, end int64) string {
	hello := "first payload"
	switch f.sig {
	case sigTLS:
		hello = "TLS ClientHello"
	case sigHTTP, sigGateway:
		hello = "HTTP request"
	case sigMSNP:
		hello = "MSNP command"
	}
	if f.hostSource == "sni" {
		hello += " (SNI " + f.host + ")"
	}
	datagrams := plural(int(f.c2s.packets), "datagram", "datagrams")
	syns := plural(f.c2s.syns, "SYN", "SYNs")
	switch r {
	case rUDPICMP, rSYNICMP, rHelloICMP:
		return f.icmpDetail()
	case rUDPIncomplete:
		return fmt.Sprintf("%s in the last %s of the capture, no answer yet", datagrams, seconds(end-f.first))
	case rUDPDropped:
		return fmt.Sprintf("%s over %s, no answer", datagrams, seconds(f.last-f.first))
	case rProxyAuth:
		what := "the request"
		if f.connect {
			what = "CONNECT " + f.host
		}
		return "HTTP 407 Proxy Authentication Required for " + what
	case rHTTPStatus:
		return fmt.Sprintf("HTTP %d instead of the service", f.httpStatus)
	case rRefused:
		return "SYN answered by RST after " + seconds(f.s2c.rstAt-f.c2s.firstSYN)
	case rSYNIncomplete:
		return fmt.Sprintf("%s, the last %s before the capture ended", syns, seconds(end-f.c2s.lastSYN))
	case rSYNDropped:
		return fmt.Sprintf("%s over %s, no answer", syns, seconds(f.c2s.lastSYN-f.c2s.firstSYN))
	case rResetAfterData:
		return fmt.Sprintf("reset by the server side after %d bytes from the client and %d from the server", f.c2s.payload, f.s2c.payload)
	case rMidstream:
		return "the capture began after the connection opened; no server payload seen"
	case rHelloRST:
		return fmt.Sprintf("RST from the server side %s after the client's %s; no server payload", seconds(f.s2c.rstAt-f.c2s.firstPayload), hello)
	case rHelloFIN:
		return fmt.Sprintf("closed by the server side %s after the client's %s; no server payload", seconds(f.s2c.finAt-f.c2s.firstPayload), hello)
	case rHelloGaveUp:
		return fmt.Sprintf("no server payload; the client gave up %s after its %s", seconds(min0(f.c2s.rstAt, f.c2s.finAt)-f.c2s.firstPayload), hello)
	case rHelloIncomplete:
		return fmt.Sprintf("the capture ended %s after the client's %s", seconds(end-f.c2s.firstPayload), hello)
	case rHelloSilence:
		return fmt.Sprintf("no server payload in %s after the client's %s", seconds(f.last-f.c2s.firstPayload), hello)
	case rResetAfterHandshake:
		return "reset by the server side right after the handshake"
	case rNoPayload:
		return "handshake completed, no payload"
	case rKernelDrop:
		return f.kdrop.detail()
	}
	return ""
}

func min0(x, y int64) int64 {
	switch {
	case x == 0:
		return y
	case y == 0:
		return x
	}
	return min(x, y)
}

var icmpv4Unreach = map[uint8]string{
	0: "net unreachable", 1: "host unreachable", 2: "protocol unreachable", 3: "port unreachable",
	9: "network administratively prohibited", 10: "host administratively prohibited",
	13: "communication administratively prohibited",
}

var icmpv6Unreach = map[uint8]string{
	0: "no route to destination", 1: "communication with destination administratively prohibited",
	3: "address unreachable", 4: "port unreachable", 5: "source address failed ingress/egress policy",
	6: "reject route to destination",
}

func (f *flow) icmpDetail() string {
	typ, v6 := f.icmpTyp&0x7f, f.icmpTyp&0x80 != 0
	from := endpoint{ip: f.icmpBy}.addr().String()
	var what string
	switch {
	case !v6 && typ == 3:
		what = fmt.Sprintf("ICMP destination unreachable, code %d", f.icmpCod)
		if s, ok := icmpv4Unreach[f.icmpCod]; ok {
			what += " (" + s + ")"
		}
	case !v6 && typ == 11:
		what = fmt.Sprintf("ICMP time exceeded, code %d", f.icmpCod)
	case v6 && typ == 1:
		what = fmt.Sprintf("ICMPv6 destination unreachable, code %d", f.icmpCod)
		if s, ok := icmpv6Unreach[f.icmpCod]; ok {
			what += " (" + s + ")"
		}
	case v6 && typ == 3:
		what = fmt.Sprintf("ICMPv6 time exceeded, code %d", f.icmpCod)
	case v6:
		what = fmt.Sprintf("ICMPv6 type %d code %d", typ, f.icmpCod)
	default:
		what = fmt.Sprintf("ICMP type %d code %d", typ, f.icmpCod)
	}
	return what + " from " + from
}

// attribute ties a flow to URL row and features: names first, then what
// signalling announced, then signatures, then ports by specificity.
func (a *Auditor) attribute(f *flow) (row int, feats FeatureSet, evidence string) {
	if h, port := f.name(); h != "" {
		if row := a.rules.MatchHost(h, port); row >= 0 {
			return row, a.rules.URLs[row].Features, "host"
		}
	}
	if f.learned != nil {
		return f.learned.url, f.learned.features, "signaling"
	}
	sig := ""
	switch f.sig {
	case sigMSNP, sigGateway, sigDirect:
		sig = signatureNames[f.sig]
	case sigEcho:
		// The 20-byte probe has little to check: only on the echo port.
		if f.server.port == 7001 {
			sig = SigEchoProbe
		}
	case sigSIP:
		// SIP is everywhere; it is Messenger's only on the article's SIP port.
		if f.proto == protoTCP && f.server.port == 5061 {
			sig = SigSIP
		}
	}
	if sig != "" {
		return -1, a.rules.Signatures[sig], "signature"
	}
	byClass := a.rules.MatchPort(f.proto == protoTCP, f.server.port)
	if byClass[Distinctive] != 0 {
		return -1, byClass[Distinctive], "port"
	}
	if byClass[Shared] != 0 {
		return -1, 0, ""
	}
	if byClass[Range] != 0 {
		return -1, byClass[Range], "range"
	}
	return -1, 0, ""
}

// results are the counts and listings of judged flows.
type results struct {
	features, urls []tally
	records        []listedFlow
	replaceable    []int32 // indexes of listed flows that are not failed
	flows, omitted uint64
}

func newResults(rs *Rules) results {
	return results{features: make([]tally, len(rs.Features)), urls: make([]tally, len(rs.URLs))}
}

// clone copies the results deeply enough that judging more flows into the
// copy leaves the original as it was.
func (r *results) clone() results {
	c := *r
	c.features, c.urls = cloneTallies(r.features), cloneTallies(r.urls)
	c.records = slices.Clone(r.records)
	c.replaceable = slices.Clone(r.replaceable)
	return c
}

func cloneTallies(ts []tally) []tally {
	c := slices.Clone(ts)
	for i := range c {
		c[i].targets, c[i].names = slices.Clone(c[i].targets), slices.Clone(c[i].names)
	}
	return c
}

// judge judges a flow at time end, counts it and lists it in res.
func (a *Auditor) judge(res *results, f *flow, end int64) {
	res.flows++
	out, why := a.judgeOutcome(f, end)
	row, feats, evidence := a.attribute(f)
	messenger := evidence != "" && evidence != "range"
	target := ""
	if messenger && out.Failed() && res.wantTarget(feats, row) {
		host, port := f.name()
		if host == "" {
			host = f.server.addr().String()
		}
		target = fmt.Sprintf("%s %d to %s", strings.ToUpper(transportName(f.proto)), port, host)
	}
	rank := evidenceRank[evidence]
	for i := range res.features {
		if !feats.Has(i) {
			continue
		}
		t := &res.features[i]
		if !messenger {
			t.possible++
			continue
		}
		t.count(out, target)
		if rank > t.evidenceRank {
			t.evidence, t.evidenceRank = a.evidenceText(f, evidence, row), rank
		}
	}
	if row >= 0 {
		res.urls[row].count(out, target)
	}
	if evidence == "" && !a.cfg.AllFlows {
		return
	}
	// Past the listing limit a failed Messenger flow takes the place of a
	// listed one that is not failed: what went wrong is what a reader needs.
	failed := messenger && out.Failed()
	slot := len(res.records)
	if slot >= a.cfg.MaxListed {
		res.omitted++
		n := len(res.replaceable)
		if !failed || n == 0 {
			return
		}
		slot, res.replaceable = int(res.replaceable[n-1]), res.replaceable[:n-1]
	} else {
		res.records = append(res.records, listedFlow{})
	}
	if !failed {
		res.replaceable = append(res.replaceable, int32(slot))
	}
	host, hostSource := f.host, f.hostSource
	if host == "" && f.dnsHost != "" {
		host, hostSource = f.dnsHost, "dns"
	}
	res.records[slot] = listedFlow{
		client: f.client, server: f.server, first: f.first, last: f.last,
		packets: f.c2s.packets + f.s2c.packets, bytes: f.c2s.bytes + f.s2c.bytes,
		host: host, hostSource: hostSource, detail: a.explain(f, why, end), evidence: evidence,
		feats: feats, row: int32(row), proto: f.proto, out: out, sig: f.sig,
	}
}

// listedFlow is a judged flow kept for the report's listing, compactly: the
// strings of its FlowRecord are made only when a report is.
type listedFlow struct {
	client, server   endpoint
	first, last      int64
	packets, bytes   uint64
	host, hostSource string
	detail           string
	evidence         string
	feats            FeatureSet
	row              int32
	proto            uint8
	out              Outcome
	sig              signature
}

func (a *Auditor) flowRecord(l *listedFlow) FlowRecord {
	url := ""
	if l.row >= 0 {
		url = a.rules.URLs[l.row].URL
	}
	return FlowRecord{
		Transport:  transportName(l.proto),
		Client:     l.client.String(),
		Server:     l.server.String(),
		Host:       l.host,
		HostSource: l.hostSource,
		URL:        url,
		Features:   a.rules.FeatureNames(l.feats),
		Evidence:   l.evidence,
		Outcome:    l.out,
		Detail:     l.detail,
		First:      stamp(l.first),
		Last:       stamp(l.last),
		Packets:    l.packets,
		Bytes:      l.bytes,
		Signature:  signatureNames[l.sig],
	}
}

func (a *Auditor) evidenceText(f *flow, evidence string, row int) string {
	switch evidence {
	case "host":
		h, _ := f.name()
		return "host " + h
	case "signaling":
		return f.learned.what
	case "signature":
		return "signature " + signatureNames[f.sig]
	case "port", "range":
		return fmt.Sprintf("port %s/%d", transportName(f.proto), f.server.port)
	}
	return ""
}

func (t *tally) count(out Outcome, target string) {
	t.flows++
	t.outcomes[out]++
	switch {
	case out == OK:
		t.ok++
	case out.Failed():
		t.failed++
		if target != "" && len(t.targets) < maxTargets && !slices.Contains(t.targets, target) {
			t.targets = append(t.targets, target)
		}
	}
}

// Report finishes every flow still open and returns the report. The auditor
// must not be fed afterwards.
func (a *Auditor) Report(inputs []string, truncated bool) *Report {
	a.Close()
	for _, f := range a.openFlows() {
		a.judge(&a.res, f, a.now) // (not taken out of the tables one by one: they go as a whole)
	}
	for _, sh := range a.shards {
		sh.table, sh.reasmBytes = newFlowTable(), 0
	}
	return a.report(&a.res, inputs, truncated)
}

// openFlows returns the flows open in every shard, least recently seen
// first.
func (a *Auditor) openFlows() []*flow {
	type open struct {
		seq uint64
		f   *flow
	}
	var byAge []open
	for _, sh := range a.shards {
		for f := sh.table.head; f != nil; f = f.next {
			byAge = append(byAge, open{f.seq, f})
		}
	}
	// Sorted by a copy of the key, not through the pointers: a flow table's
	// worth of cache misses fewer.
	slices.SortFunc(byAge, func(x, y open) int { return cmp.Compare(x.seq, y.seq) })
	fs := make([]*flow, len(byAge))
	for i := range byAge {
		fs[i] = byAge[i].f
	}
	return fs
}

// Snapshot returns the report as if the capture ended now, judging the open
// flows without finishing them: the auditor goes on. Live monitoring
// calls it on an interval.
func (a *Auditor) Snapshot(inputs []string) *Report {
	res := a.res.clone()
	for _, f := range a.openFlows() {
		a.judge(&res, f, a.now)
	}
	return a.report(&res, inputs, false)
}

// Advance tells the auditor that time has reached now even if no packet
// came (a live source's clock): flows idle past the timeout are finished.
func (a *Auditor) Advance(now int64) {
	if now > a.now {
		a.now = now
	}
	a.swept = a.now
	a.sweep(a.now, a.seq)
	a.seq++
	a.apply()
}

func (a *Auditor) report(res *results, inputs []string, truncated bool) *Report {
	end := a.now
	lookups := a.finishLookups(res, end)
	rs := a.rules
	st := a.Stats() // with the shards' counts
	r := &Report{
		Schema: Schema,
		Rules:  rs.Title,
		Capture: CaptureSummary{
			Inputs:            append([]string{}, inputs...),
			First:             stamp(a.stats.First),
			Last:              stamp(a.stats.Last),
			Packets:           a.stats.Packets,
			Bytes:             a.stats.Bytes,
			Malformed:         a.stats.Malformed,
			Truncated:         truncated,
			Fragments:         a.stats.Fragments,
			NonIP:             a.stats.NonIP,
			FlowsTotal:        res.flows,
			FlowsEvicted:      st.Evicted,
			FlowsOmitted:      res.omitted,
			ReassemblyDropped: st.ReassemblyDropped,
			ForwardedCopies:   st.Copies,
		},
		Features: make([]FeatureResult, len(rs.Features)),
		URLs:     make([]URLResult, len(rs.URLs)),
		Flows:    make([]FlowRecord, 0, len(res.records)),
		Lookups:  lookups,
		Hints:    []Hint{},
	}
	listed := slices.Clone(res.records)
	slices.SortStableFunc(listed, func(x, y listedFlow) int {
		if x.first != y.first {
			return cmp.Compare(x.first, y.first)
		}
		if c := compareEndpoints(&x.client, &y.client); c != 0 {
			return c
		}
		return compareEndpoints(&x.server, &y.server)
	})
	for i := range listed {
		r.Flows = append(r.Flows, a.flowRecord(&listed[i]))
	}
	for i, ft := range rs.Features {
		t := &res.features[i]
		outcomes := map[string]int{}
		for o, n := range t.outcomes {
			if n > 0 {
				outcomes[Outcome(o).String()] = n
			}
		}
		r.Features[i] = FeatureResult{Feature: ft.Name, Verdict: verdictOf(t.ok, t.failed), Flows: t.flows - t.lookupsCounted(),
			OK: t.ok, Failed: t.failed, Possible: t.possible, Outcomes: outcomes, Ports: ft.Ports, Evidence: t.evidence}
	}
	for i, u := range rs.URLs {
		t := &res.urls[i]
		r.URLs[i] = URLResult{URL: u.URL, Function: u.Function, Verdict: verdictOf(t.ok, t.failed),
			Flows: t.flows - t.lookupsCounted(), OK: t.ok, Failed: t.failed, Source: u.Source}
	}
	r.Hints = a.hints(res, r)
	return r
}

// wantTarget reports whether a failed flow's target would still be listed
// in some tally's hints (each keeps a few): else it is not worth formatting.
func (res *results) wantTarget(feats FeatureSet, row int) bool {
	for _, t := range res.tallies(feats, row) {
		if len(t.targets) < maxTargets {
			return true
		}
	}
	return false
}

// tallies are the counters of a feature set and a URL row (-1 for none).
func (res *results) tallies(feats FeatureSet, row int) []*tally {
	var ts []*tally
	for i := range res.features {
		if feats.Has(i) {
			ts = append(ts, &res.features[i])
		}
	}
	if row >= 0 {
		ts = append(ts, &res.urls[row])
	}
	return ts
}

// openText says what to open for a tally's failures: the connections, then
// the names DNS must resolve.
func (t *tally) openText() string {
	var s string
	if len(t.targets) > 0 {
		s = "Allow outbound " + strings.Join(t.targets, ", ") + ". "
	}
	if len(t.names) > 0 {
		s += "Let DNS resolve " + strings.Join(t.names, ", ") + " to the service's real addresses. "
	}
	return s
}

// lookupsCounted is how many of a tally's attempts were lookups, not flows.
func (t *tally) lookupsCounted() int { return t.outcomes[DNSFailed] + t.outcomes[DNSSinkhole] }

// finishLookups judges each Messenger name's lookups; failed ones count as
// failed attempts of the name's URL row and features.
func (a *Auditor) finishLookups(res *results, end int64) []LookupRecord {
	out := make([]LookupRecord, 0, len(a.lookups))
	lks := make([]*lookup, 0, len(a.lookups))
	for _, lk := range a.lookups {
		lks = append(lks, lk)
	}
	// In name order: the tallies' names come out the same every run.
	slices.SortFunc(lks, func(x, y *lookup) int { return strings.Compare(x.name, y.name) })
	for _, lk := range lks {
		var o Outcome
		switch {
		case lk.good > 0:
			o = OK
		case lk.sinkholes > 0:
			o = DNSSinkhole
		case lk.failures > 0 || lk.responses > 0:
			o = DNSFailed
		case end-lk.lastSeen < int64(a.cfg.Grace):
			o = Incomplete
		default:
			o = Dropped
		}
		row := lk.row
		feats := a.rules.URLs[row].Features
		if o == DNSFailed || o == DNSSinkhole {
			for _, t := range res.tallies(feats, row) {
				t.count(o, "")
				if len(t.names) < 8 && !slices.Contains(t.names, lk.name) {
					t.names = append(t.names, lk.name)
				}
				if t.evidence == "" {
					t.evidence = "lookup " + lk.name
				}
			}
		}
		answers := lk.answers
		if answers == nil {
			answers = []string{}
		}
		out = append(out, LookupRecord{Name: lk.name, RCode: lk.rcode, Answers: answers, Outcome: o,
			Features: a.rules.FeatureNames(feats), Queries: lk.queries, First: stamp(lk.firstQuery), URL: a.rules.URLs[row].URL})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// hints says, per failing feature and URL row, what to open in the
// article's terms, and adds the article's notes for the outcomes seen.
func (a *Auditor) hints(res *results, r *Report) []Hint {
	hints := []Hint{}
	for i, fr := range r.Features {
		if fr.Verdict != Blocked && fr.Verdict != Partial {
			continue
		}
		t := &res.features[i]
		hints = append(hints, Hint{Feature: fr.Feature, Text: t.openText() + a.rules.Features[i].Hint})
		for o := range numOutcomes {
			if note, ok := a.rules.Notes[Outcome(o).String()]; ok && t.outcomes[o] > 0 && Outcome(o).Failed() {
				hints = append(hints, Hint{Feature: fr.Feature, Text: note})
			}
		}
	}
	for i, u := range r.URLs {
		if a.rules.URLs[i].Features != 0 || (u.Verdict != Blocked && u.Verdict != Partial) {
			continue
		}
		t := &res.urls[i]
		hints = append(hints, Hint{Text: fmt.Sprintf("%s(%s: %s)", t.openText(), u.URL, u.Function)})
	}
	return hints
}

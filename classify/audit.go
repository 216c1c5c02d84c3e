package classify

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/msnaudit/msnaudit/capture"
	"github.com/msnaudit/msnaudit/classify/inspect"
)

// Config bounds the auditor's memory and sets its clocks.
type Config struct {
	Rules        *Rules        // the rule table; Default() if nil
	MaxFlows     int           // flows tracked at once; the least recently seen is finished early past it
	IdleTimeout  time.Duration // a flow idle this long is finished
	Grace        time.Duration // a SYN or request this close to the capture's end is "incomplete", not "dropped"
	AllFlows     bool          // list every flow, not only Messenger and possible ones
	MaxListed    int           // flows listed in the report at most (failed Messenger flows first); the rest are counted
	InspectLimit int           // payload bytes per direction inspected to name a flow
	SignalLimit  int           // payload bytes per direction scanned on MSNP flows for redirects and invitations
	MaxNames     int           // DNS answers (address -> name) and learned endpoints remembered at most
	// MaxReassembly bounds the bytes held, across all flows, to reassemble
	// ClientHellos and HTTP heads that span segments.
	MaxReassembly int
	// Workers is how many goroutines Batch feeds the flow table's shards
	// with (1 if zero); the report is the same for any number.
	Workers int
}

// DefaultConfig returns the defaults the CLI starts from.
func DefaultConfig() Config {
	return Config{
		MaxFlows:      65536,
		IdleTimeout:   120 * time.Second,
		Grace:         5 * time.Second,
		MaxListed:     10000,
		InspectLimit:  16 << 10,
		SignalLimit:   1 << 20,
		MaxNames:      65536,
		MaxReassembly: 32 << 20,
	}
}

// learnedEndpoint is a server endpoint that signalling announced: an MSNP
// XFR/RNG redirect or an MSNSLP/legacy invitation.
type learnedEndpoint struct {
	host     string // the name the redirect inherits from the redirecting flow ("" for invitations)
	features FeatureSet
	url      int // URL row of the announcing flow, -1 if none
	at       int64
	what     string // e.g. "MSNP XFR", "invitation (File transfer)"
}

type dnsName struct {
	name string
	at   int64
}

// lookup is the DNS history of one Messenger name.
type lookup struct {
	name                 string
	row                  int
	queries, responses   int
	good, sinkholes      int
	failures             int
	rcode                string
	firstQuery, lastSeen int64
	answers              []string
}

// tally counts attempts of one feature or URL row.
type tally struct {
	flows, ok, failed, possible int
	outcomes                    [numOutcomes]int
	evidence                    string
	evidenceRank                int
	targets                     []string // what failed, for hints: "TCP 1863 to messenger.hotmail.com"
	names                       []string // names whose lookups failed
}

// Stats counts what the auditor read.
type Stats struct {
	Packets, Bytes, Malformed, Fragments, NonIP uint64
	Flows, Evicted                              uint64
	Open                                        int    // flows in the flow table now
	ReassemblyDropped                           uint64 // flows whose reassembly was given up for the memory budget
	Copies                                      uint64 // packets seen again on another interface (forwarded), counted once
	First, Last                                 int64
}

// Auditor turns packets into a report. It is not safe for concurrent use;
// Batch uses several goroutines inside.
type Auditor struct {
	cfg     Config
	rules   *Rules
	shards  [numShards]*shard
	dns     map[addr]dnsName
	learned map[endpoint]*learnedEndpoint
	// Revival servers redirect to host names: what they announced, by name
	// and port, and the names (whose DNS answers are then remembered even
	// when the rule table does not know them).
	learnedNames map[nameEndpoint]*learnedEndpoint
	announced    map[string]bool
	lookups      map[string]*lookup
	stats        Stats
	now          int64
	swept        int64
	seq          uint64 // packets (and kernel updates) fed so far: the order of events

	res results // judged flows

	workers int
	pool    *pool // Batch's goroutines, started on the first parallel batch

	// scratch, reused for every packet
	d         decoded
	dnsMsg    inspect.DNSMessage
	redirects [8]inspect.Redirect
	invite    inspect.Invite
}

// NewAuditor returns an auditor with cfg's rules and limits; zero fields of
// cfg take DefaultConfig's values.
func NewAuditor(cfg Config) *Auditor {
	def := DefaultConfig()
	if cfg.Rules == nil {
		cfg.Rules = Default()
	}
	orDefault(&cfg.MaxFlows, def.MaxFlows)
	orDefault(&cfg.IdleTimeout, def.IdleTimeout)
	orDefault(&cfg.Grace, def.Grace)
	orDefault(&cfg.MaxListed, def.MaxListed)
	orDefault(&cfg.InspectLimit, def.InspectLimit)
	orDefault(&cfg.SignalLimit, def.SignalLimit)
	orDefault(&cfg.MaxNames, def.MaxNames)
	orDefault(&cfg.MaxReassembly, def.MaxReassembly)
	orDefault(&cfg.Workers, 1)
	a := &Auditor{
		cfg:     cfg,
		rules:   cfg.Rules,
		dns:     map[addr]dnsName{},
		learned: map[endpoint]*learnedEndpoint{},
		lookups: map[string]*lookup{},

		learnedNames: map[nameEndpoint]*learnedEndpoint{},
		announced:    map[string]bool{},
		res:          newResults(cfg.Rules),
		workers:      min(cfg.Workers, numShards),
	}
	for i := range a.shards {
		a.shards[i] = newShard(a, i)
	}
	return a
}

// orDefault sets a non-positive limit to its default.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Stats returns the counters so far.
func (a *Auditor) Stats() Stats {
	s := a.stats
	for _, sh := range a.shards {
		s.Open += sh.table.len()
		s.Evicted += sh.evicted
		s.ReassemblyDropped += sh.reasmDropped
		s.Copies += sh.copiesSeen
	}
	s.Flows = a.res.flows + uint64(s.Open)
	return s
}

// clock takes a packet's time, counts it and reports whether the idle
// flows are due a sweep after it. Packets should come in time order; a
// packet older than the newest seen is taken as seen at the newest time.
func (a *Auditor) clock(p *capture.Packet) (ts int64, sweep bool) {
	ts = max(p.Time, a.now)
	a.now = ts
	if a.stats.Packets == 0 {
		a.stats.First, a.swept = ts, ts
	}
	a.stats.Last = ts
	a.stats.Packets++
	a.stats.Bytes += uint64(p.Length)
	if ts-a.swept >= int64(time.Second) {
		a.swept = ts
		return ts, true
	}
	return ts, false
}

// decodeCounts is what decoding packets counted.
type decodeCounts struct{ malformed, nonIP, fragments uint64 }

// decodePacket decodes p into d and returns the shard of its flow, or
// noShard, with the flow's key in k: for an ICMP error, the flow it quotes.
func decodePacket(p *capture.Packet, d *decoded, k *flowKey, c *decodeCounts) uint8 {
	r := decode(p.Link, p.Data, d)
	if r == decOK && d.snapCut && len(p.Data) >= p.Length {
		// A length field runs past a frame that was captured whole: the
		// header lies, the capture's snap length did not cut it.
		r = decMalformed
	}
	switch r {
	case decMalformed:
		c.malformed++
		return noShard
	case decNotIP:
		c.nonIP++
		return noShard
	}
	if d.fragment {
		c.fragments++
	}
	switch {
	case d.laterFrag:
	case d.proto == protoTCP || d.proto == protoUDP:
		k.set(&d.src, &d.dst, d.proto)
		return shardOf(k)
	case d.quoted:
		k.set(&d.qsrc, &d.qdst, d.qproto)
		return shardOf(k)
	}
	return noShard
}

func (a *Auditor) count(c *decodeCounts) {
	a.stats.Malformed += c.malformed
	a.stats.NonIP += c.nonIP
	a.stats.Fragments += c.fragments
}

// Packet feeds one packet. Packets should come in time order; a packet
// older than the newest seen is taken as seen at the newest time.
func (a *Auditor) Packet(p *capture.Packet) {
	ts, sweep := a.clock(p)
	seq := a.seq
	a.seq++
	var c decodeCounts
	var k flowKey
	s := decodePacket(p, &a.d, &k, &c)
	if s != noShard {
		a.shards[s].packet(&a.d, &k, ifaceOf(p, &a.d), ts, p.Length, seq)
	}
	a.count(&c)
	if sweep {
		a.sweep(ts, seq)
	} else if s == noShard || len(a.shards[s].events) == 0 {
		return // no shard logged an event
	}
	a.apply()
}

// sweep finishes, in every shard, the flows idle past the timeout after
// packet seq.
func (a *Auditor) sweep(now int64, seq uint64) {
	for _, sh := range a.shards {
		sh.sweep(now, seq)
	}
}

// apply applies the shards' events in packet order: a merge of the shards'
// logs, each in order.
func (a *Auditor) apply() {
	var logs [numShards][]event
	n := 0
	for _, sh := range a.shards {
		if len(sh.events) > 0 {
			logs[n] = sh.events
			n++
		}
	}
	if n == 0 {
		return
	}
	for n > 1 {
		best := 0
		for i := 1; i < n; i++ {
			if x, e := &logs[i][0], &logs[best][0]; x.seq < e.seq || x.seq == e.seq && x.order < e.order {
				best = i
			}
		}
		a.applyEvent(&logs[best][0])
		if logs[best] = logs[best][1:]; len(logs[best]) == 0 {
			n--
			logs[best] = logs[n]
		}
	}
	for i := range logs[0] {
		a.applyEvent(&logs[0][i])
	}
	for _, sh := range a.shards {
		if len(sh.events) > 0 {
			clear(sh.events) // drop the references to payloads and flows
			sh.events = sh.events[:0]
		}
	}
}

func (a *Auditor) applyEvent(e *event) {
	switch e.kind {
	case evNew:
		a.nameFlow(e.f)
	case evDNS:
		a.dnsMessage(e.p, e.ts, e.flag)
	case evSignal:
		a.signalling(e.f, e.p, e.flag, e.ts)
	case evFinish:
		a.judge(&a.res, e.f, e.ts)
		if sh := a.shards[e.f.shard]; len(sh.free) < cap(sh.free) {
			sh.free = append(sh.free, e.f) // reused by newFlow: a flood of short flows allocates nothing
		}
	}
}

// nameFlow names a new flow from what DNS answered about its server's
// address and what signalling announced of its server's endpoint, before it
// began.
func (a *Auditor) nameFlow(f *flow) {
	if n, ok := a.dns[f.server.ip]; ok && n.at <= f.first {
		f.dnsHost = n.name
	}
	l, ok := a.learned[f.server]
	if !ok && f.dnsHost != "" && len(a.learnedNames) > 0 {
		l, ok = a.learnedNames[nameEndpoint{f.dnsHost, f.server.port}]
	}
	if ok && l.at <= f.first {
		f.learned = l
		if l.host != "" && f.host == "" {
			// DESIGN: an MSNP XFR/RNG redirect names the server it points to
			// (a name the flow's own bytes gave since, as the shard may have
			// seen before this event applied, comes later and wins).
			f.setHost(l.host, "msnp")
		}
	}
}

// serverLike reports whether, on a flow seen mid-stream, the side with
// port src looks like the server rather than the side with port dst.
func (a *Auditor) serverLike(src, dst uint16) bool {
	if rs, rd := a.portRank(src), a.portRank(dst); rs != rd {
		return rs > rd
	}
	return src < dst
}

// portRank says how much a port looks like a server's: a port of the rule
// table's (distinctive or shared, TCP or UDP), then a well-known port.
func (a *Auditor) portRank(p uint16) int {
	tcp, udp := a.rules.MatchPort(true, p), a.rules.MatchPort(false, p)
	switch {
	case tcp[Distinctive]|tcp[Shared]|udp[Distinctive]|udp[Shared] != 0:
		return 2
	case p < 1024:
		return 1
	}
	return 0
}

// maxHostLen bounds a name from the wire (a DNS name has at most 253
// characters); a longer one is cut there.
const maxHostLen = 255

func (f *flow) setHost(h, source string) {
	if len(h) > maxHostLen {
		h = h[:maxHostLen]
	}
	if h != "" {
		f.host, f.hostSource = h, source
	}
}

// signalling scans an MSNP flow's segments for redirects to other servers
// and for invitations that announce peer endpoints.
func (a *Auditor) signalling(f *flow, p []byte, fromServer bool, ts int64) {
	if fromServer {
		n := inspect.ScanRedirects(p, a.redirects[:])
		for _, r := range a.redirects[:n] {
			what := "MSNP XFR redirect"
			if r.Ring {
				what = "MSNP RNG invitation"
			}
			if r.Host != nil {
				// DESIGN: a redirect that names a host names the server.
				name := strings.ToLower(string(r.Host))
				url := matchHost(a.rules, name, r.Addr.Port())
				if url < 0 {
					url = a.urlRow(f)
				}
				a.learnName(name, r.Addr.Port(), &learnedEndpoint{host: name, features: a.rules.Signatures[SigMSNP], url: url, at: ts, what: what})
				continue
			}
			host, _ := f.name()
			a.learn(r.Addr, host, a.rules.Signatures[SigMSNP], a.urlRow(f), ts, what)
		}
	}
	inv := &a.invite
	if !inspect.ScanInvite(p, inv) {
		return
	}
	if inv.App != inspect.AppNone {
		f.slpApp = uint8(inv.App)
	}
	app := inspect.App(f.slpApp)
	feats, sig := a.appFeatures(app)
	for _, ep := range inv.Endpoints[:inv.NEndpoints] {
		a.learn(ep, "", feats, -1, ts, "invitation ("+sig+")")
	}
}

// appFeatures maps an invitation's application to the features it serves,
// through the rule table's slp-* signatures.
func (a *Auditor) appFeatures(app inspect.App) (FeatureSet, string) {
	sig := SigDirect
	switch app {
	case inspect.AppFileTransfer:
		sig = SigSLPFile
	case inspect.AppWebcam, inspect.AppLegacyWebcam:
		sig = SigSLPWebcam
	case inspect.AppActivity:
		sig = SigSLPActivity
	case inspect.AppWhiteboard:
		sig = SigSLPWhiteboard
	case inspect.AppRemoteAssistance:
		sig = SigSLPRemote
	case inspect.AppVoice:
		sig = SigSLPVoice
	}
	return a.rules.Signatures[sig], sig
}

func (a *Auditor) learn(ap netip.AddrPort, host string, feats FeatureSet, url int, ts int64, what string) {
	if !ap.IsValid() || ap.Port() == 0 {
		return
	}
	ep := endpoint{ip: ap.Addr().As16(), port: ap.Port()}
	remember(a.learned, ep, &learnedEndpoint{host: host, features: feats, url: url, at: ts, what: what}, a.cfg.MaxNames)
}

// nameEndpoint is a server a redirect named by host name and port.
type nameEndpoint struct {
	name string
	port uint16
}

// learnName remembers a server a redirect named by host name: a flow to
// an address a DNS answer gave the name, on that port, is the server.
func (a *Auditor) learnName(name string, port uint16, l *learnedEndpoint) {
	remember(a.learnedNames, nameEndpoint{name, port}, l, a.cfg.MaxNames)
	remember(a.announced, name, true, a.cfg.MaxNames)
}

// remember puts v in m under k, forgetting an entry first when m holds max.
func remember[K comparable, V any](m map[K]V, k K, v V, max int) {
	if _, ok := m[k]; !ok && len(m) >= max {
		for k := range m { // full: forget one
			delete(m, k)
			break
		}
	}
	m[k] = v
}

// urlRow is the URL row a flow is attributed to by its name, or by what
// announced it; -1 if none.
func (a *Auditor) urlRow(f *flow) int {
	if h, port := f.name(); h != "" {
		if row := a.rules.MatchHost(h, port); row >= 0 {
			return row
		}
	}
	if f.learned != nil {
		return f.learned.url
	}
	return -1
}

// name is the flow's hostname and the port it was asked for.
func (f *flow) name() (string, uint16) {
	port := f.server.port
	if f.connect {
		port = f.connectTo
	}
	if f.host != "" {
		return f.host, port
	}
	return f.dnsHost, port
}

// dnsMessage records a DNS query or response of a Messenger name.
func (a *Auditor) dnsMessage(p []byte, ts int64, tcp bool) {
	m := &a.dnsMsg
	parse := inspect.ParseDNS
	if tcp {
		parse = inspect.ParseDNSTCP
	}
	if parse(p, m) != nil {
		return
	}
	name := m.Name()
	row := matchHost(a.rules, name, 0)
	if row < 0 {
		if m.Response && m.RCode == 0 && a.announced[string(name)] {
			// A name a redirect announced: its answers name the flows to
			// come, though the rule table does not know it.
			for _, ad := range m.Addrs[:m.NAddrs] {
				if !inspect.IsSinkhole(ad) {
					a.rememberAnswer(addr(ad.As16()), string(name), ts)
				}
			}
		}
		return
	}
	lk := a.lookups[string(name)]
	if lk == nil {
		if len(a.lookups) >= a.cfg.MaxNames {
			return
		}
		lk = &lookup{name: string(name), row: row, firstQuery: ts}
		a.lookups[lk.name] = lk
	}
	lk.lastSeen = ts
	if !m.Response {
		lk.queries++
		return
	}
	lk.responses++
	lk.rcode = inspect.RCodeName(m.RCode)
	if m.RCode != 0 {
		lk.failures++
		return
	}
	for _, ad := range m.Addrs[:m.NAddrs] {
		if inspect.IsSinkhole(ad) {
			lk.sinkholes++
		} else {
			lk.good++
			a.rememberAnswer(addr(ad.As16()), lk.name, ts)
		}
		if len(lk.answers) < 8 {
			s := ad.Unmap().String()
			seen := false
			for _, x := range lk.answers {
				seen = seen || x == s
			}
			if !seen {
				lk.answers = append(lk.answers, s)
			}
		}
	}
}

// rememberAnswer records that a DNS answer gave name the address k at ts
// (a changed name only: the time is when it first said so).
func (a *Auditor) rememberAnswer(k addr, name string, ts int64) {
	if old, ok := a.dns[k]; !ok || old.name != name {
		remember(a.dns, k, dnsName{name: name, at: ts}, a.cfg.MaxNames)
	}
}

func (e endpoint) String() string {
	ip := netip.AddrFrom16(e.ip).Unmap()
	return netip.AddrPortFrom(ip, e.port).String()
}

func (e endpoint) addr() netip.Addr { return netip.AddrFrom16(e.ip).Unmap() }

func transportName(proto uint8) string {
	if proto == protoTCP {
		return "tcp"
	}
	return "udp"
}

// seconds formats a duration for details: "350ms", "7.0s".
func seconds(ns int64) string {
	if ns < int64(time.Second) {
		return strconv.FormatInt(ns/int64(time.Millisecond), 10) + "ms"
	}
	return strconv.FormatFloat(float64(ns)/1e9, 'f', 1, 64) + "s"
}

func stamp(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

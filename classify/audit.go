package classify

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
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
	First, Last                                 int64
}

// Auditor turns packets into a report. It is not safe for concurrent use.
type Auditor struct {
	cfg     Config
	rules   *Rules
	table   *flowTable
	dns     map[addr]dnsName
	learned map[endpoint]*learnedEndpoint
	lookups map[string]*lookup
	stats   Stats
	now     int64
	swept   int64

	reasmBytes int     // bytes held by every flow's reassembly buffer
	free       []*flow // finished flows, for reuse

	res results // judged flows

	// scratch, reused for every packet
	d         decoded
	req       inspect.Request
	resp      inspect.Response
	dnsMsg    inspect.DNSMessage
	redirects [8]inspect.Redirect
	invite    inspect.Invite
	sniBuf    [inspect.SNIBufLen]byte
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
	return &Auditor{
		cfg:     cfg,
		rules:   cfg.Rules,
		table:   newFlowTable(),
		dns:     map[addr]dnsName{},
		learned: map[endpoint]*learnedEndpoint{},
		lookups: map[string]*lookup{},
		res:     newResults(cfg.Rules),
		free:    make([]*flow, 0, 1024),
	}
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
	s.Open = a.table.len()
	s.Flows = a.res.flows + uint64(s.Open)
	return s
}

// Packet feeds one packet. Packets should come in time order; a packet
// older than the newest seen is taken as seen at the newest time.
func (a *Auditor) Packet(p *capture.Packet) {
	ts := p.Time
	if ts < a.now {
		ts = a.now
	}
	a.now = ts
	if a.stats.Packets == 0 {
		a.stats.First, a.swept = ts, ts
	}
	a.stats.Last = ts
	a.stats.Packets++
	a.stats.Bytes += uint64(p.Length)

	d := &a.d
	r := decode(p.Link, p.Data, d)
	if r == decOK && d.snapCut && len(p.Data) >= p.Length {
		// A length field runs past a frame that was captured whole: the
		// header lies, the capture's snap length did not cut it.
		r = decMalformed
	}
	switch r {
	case decMalformed:
		a.stats.Malformed++
		return
	case decNotIP:
		a.stats.NonIP++
		return
	}
	if d.fragment {
		a.stats.Fragments++
	}
	switch {
	case d.laterFrag:
	case d.proto == protoTCP || d.proto == protoUDP:
		a.transport(d, ts, p.Length)
	case d.quoted:
		a.icmpError(d, ts)
	}
	if ts-a.swept >= int64(time.Second) {
		a.sweep(ts)
	}
}

// sweep finishes flows idle past the timeout.
func (a *Auditor) sweep(now int64) {
	a.swept = now
	idle := int64(a.cfg.IdleTimeout)
	for f := a.table.head; f != nil && now-f.last > idle; f = a.table.head {
		a.finish(f, now)
	}
}

func (a *Auditor) transport(d *decoded, ts int64, wireLen int) {
	k := makeKey(d.src, d.dst, d.proto)
	f := a.table.get(k)
	syn := d.proto == protoTCP && d.tcpFlags&(flagSYN|flagACK) == flagSYN
	if f != nil && syn && d.src == f.client && f.c2s.syns > 0 && d.seq != f.clientISN && (f.c2s.finAt|f.c2s.rstAt|f.s2c.finAt|f.s2c.rstAt) != 0 {
		a.finish(f, ts) // the port pair is reused by a new connection
		f = nil
	}
	if f == nil {
		if a.table.len() >= a.cfg.MaxFlows {
			a.stats.Evicted++
			a.finish(a.table.head, ts)
		}
		f = a.newFlow(k, d, ts)
	}
	f.last = ts
	a.table.touch(f)
	dir := &f.c2s
	fromClient := d.src == f.client
	if !fromClient {
		dir = &f.s2c
	}
	dir.packets++
	dir.bytes += uint64(wireLen)
	if d.proto == protoTCP {
		dir.flags |= d.tcpFlags
		switch {
		case syn && fromClient:
			if dir.syns == 0 {
				dir.firstSYN = ts
				f.clientISN = d.seq
			}
			dir.syns++
			dir.lastSYN = ts
		case d.tcpFlags&(flagSYN|flagACK) == flagSYN|flagACK && !fromClient:
			f.synAck = true
		}
		if d.tcpFlags&flagFIN != 0 && dir.finAt == 0 {
			dir.finAt = ts
		}
		if d.tcpFlags&flagRST != 0 && dir.rstAt == 0 {
			dir.rstAt = ts
		}
	}
	if len(d.payload) == 0 {
		return
	}
	dir.payload += uint64(len(d.payload))
	if dir.firstPayload == 0 {
		dir.firstPayload = ts
	}
	if d.proto == protoUDP {
		a.inspectDatagram(f, d, fromClient, ts)
		return
	}
	a.inspectSegment(f, d, fromClient, ts)
}

func (a *Auditor) newFlow(k flowKey, d *decoded, ts int64) *flow {
	var f *flow
	if n := len(a.free); n > 0 {
		f, a.free = a.free[n-1], a.free[:n-1]
		*f = flow{}
	} else {
		f = new(flow)
	}
	f.key, f.proto, f.first, f.client, f.server, f.cand = k, d.proto, ts, d.src, d.dst, candAll
	if d.proto == protoTCP {
		switch {
		case d.tcpFlags&(flagSYN|flagACK) == flagSYN:
		case d.tcpFlags&(flagSYN|flagACK) == flagSYN|flagACK:
			f.client, f.server = d.dst, d.src
		default:
			f.midstream = true
			if a.serverLike(d.src.port, d.dst.port) {
				f.client, f.server = d.dst, d.src
			}
		}
	} else if a.portRank(d.src.port) > a.portRank(d.dst.port) {
		// The first datagram seen comes from a server's port to a client's:
		// a reply whose request came before the capture began.
		f.client, f.server, f.midstream = d.dst, d.src, true
	}
	if n, ok := a.dns[f.server.ip]; ok && n.at <= ts {
		f.dnsHost = n.name
	}
	if l, ok := a.learned[f.server]; ok && l.at <= ts {
		f.learned = l
		if l.host != "" {
			// DESIGN: an MSNP XFR/RNG redirect names the server it points to.
			f.setHost(l.host, "msnp")
		}
	}
	a.table.add(f)
	return f
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

// icmpError joins an ICMP error to the flow it quotes.
func (a *Auditor) icmpError(d *decoded, ts int64) {
	if d.proto == protoICMP && d.icmpType == 3 && d.icmpCode == 4 || d.proto == protoICMPv6 && d.icmpType == 2 {
		return // "fragmentation needed" / "packet too big": path MTU discovery, not a block
	}
	f := a.table.get(makeKey(d.qsrc, d.qdst, d.qproto))
	if f == nil || f.icmp {
		return
	}
	f.icmp, f.icmpTyp, f.icmpCod, f.icmpAt, f.icmpBy = true, d.icmpType, d.icmpCode, ts, d.src.ip
	if d.proto == protoICMPv6 {
		f.icmpTyp |= 0x80 // remember the family in the type's top bit (ICMPv6 errors are < 128)
	}
}

func (a *Auditor) inspectDatagram(f *flow, d *decoded, fromClient bool, ts int64) {
	if f.server.port == 53 || f.client.port == 53 {
		f.sig = sigDNS
		a.dnsMessage(d.payload, ts, false)
		return
	}
	if !fromClient || f.c2s.inspectDone {
		return
	}
	f.c2s.inspectDone = true
	switch {
	case inspect.EchoProbe(d.payload) == inspect.Match:
		f.sig = sigEcho
	case inspect.SIP(d.payload) == inspect.Match:
		f.sig = sigSIP
	case inspect.TURN(d.payload) == inspect.Match:
		f.sig = sigTURN
	}
}

func (a *Auditor) inspectSegment(f *flow, d *decoded, fromClient bool, ts int64) {
	p := d.payload
	if f.server.port == 53 {
		// DNS over TCP: messages that start a segment (most do) are read.
		f.sig = sigDNS
		a.dnsMessage(p, ts, true)
		return
	}
	if fromClient {
		if !f.c2s.inspectDone {
			a.nameFromClient(f, d.seq, p)
		} else if f.sig == sigMSNP {
			a.signalling(f, &f.c2s, p, false, ts)
		}
		f.c2s.inspected += len(p)
		return
	}
	switch {
	case f.sig == sigHTTP || f.sig == sigGateway:
		if f.httpStatus == 0 && !f.s2c.inspectDone {
			f.s2c.inspectDone = true
			if inspect.ParseResponse(p, &a.resp) != inspect.NoMatch && a.resp.Status > 0 {
				f.httpStatus = a.resp.Status
				if a.resp.XMSNMessenger {
					f.sig = sigGateway
				}
			}
		}
	case f.sig == sigMSNP:
		a.signalling(f, &f.s2c, p, true, ts)
	case f.sig == sigNone && !f.s2c.inspectDone:
		// A flow whose client's first bytes were not seen (mid-stream) or
		// named nothing: MSNP servers answer in kind.
		f.s2c.inspectDone = true
		if _, r := inspect.MSNPCommand(p); r == inspect.Match {
			f.sig = sigMSNP
			a.signalling(f, &f.s2c, p, true, ts)
		}
	}
	f.s2c.inspected += len(p)
}

// nameFromClient runs the inspectors on the client's first bytes, in stream
// order, until one names the flow or none can.
func (a *Auditor) nameFromClient(f *flow, seq uint32, p []byte) {
	if f.reasm == nil {
		base := seq
		if f.c2s.syns > 0 {
			base = f.clientISN + 1
		}
		if seq == base {
			if a.nameClient(f, p) {
				f.c2s.inspectDone = true
				if f.sig == sigMSNP {
					a.signalling(f, &f.c2s, p, false, f.last)
				}
				return
			}
		}
		f.reasm = &reassembly{base: base}
	}
	before := cap(f.reasm.buf)
	b := f.reasm.add(seq, p, a.cfg.InspectLimit)
	a.reasmBytes += cap(f.reasm.buf) - before
	if a.reasmBytes > a.cfg.MaxReassembly {
		// Every flow's reassembly shares one budget: a flood of half-sent
		// ClientHellos must not grow memory without bound.
		a.stats.ReassemblyDropped++
		a.endReassembly(f)
		return
	}
	if len(b) > 0 && a.nameClient(f, b) || len(b) >= a.cfg.InspectLimit || f.c2s.inspected+len(p) >= 2*a.cfg.InspectLimit {
		a.endReassembly(f)
	}
}

// endReassembly stops naming a flow from its client's bytes and frees the
// reassembly buffer.
func (a *Auditor) endReassembly(f *flow) {
	f.c2s.inspectDone = true
	if f.reasm != nil {
		a.reasmBytes -= cap(f.reasm.buf)
		f.reasm = nil
	}
}

// nameClient tries the client-side inspectors on the stream prefix b and
// reports whether naming is finished (named, or nothing can match).
func (a *Auditor) nameClient(f *flow, b []byte) bool {
	more := false
	try := func(c uint8, r inspect.Result) bool {
		switch r {
		case inspect.Match:
			return true
		case inspect.NoMatch:
			f.cand &^= c
		default:
			more = true
		}
		return false
	}
	if f.cand&candTLS != 0 {
		sni, r := inspect.ClientHelloSNIInto(b, &a.sniBuf)
		if try(candTLS, r) {
			f.sig = sigTLS
			if len(sni) > 0 {
				f.setHost(string(sni), "sni")
			}
			return true
		}
	}
	if f.cand&candHTTP != 0 && try(candHTTP, inspect.ParseRequest(b, &a.req)) {
		f.sig = sigHTTP
		if string(a.req.Method) == "CONNECT" {
			host, port, err := net.SplitHostPort(string(a.req.Target))
			if n, perr := strconv.ParseUint(port, 10, 16); err == nil && perr == nil {
				f.connect, f.connectTo = true, uint16(n)
				f.setHost(host, "connect")
			}
		} else if len(a.req.Host) > 0 {
			f.setHost(string(inspect.HostOnly(a.req.Host)), "http")
		}
		if inspect.IsGateway(&a.req) {
			f.sig = sigGateway
		}
		return true
	}
	if f.cand&candMSNP != 0 {
		if _, r := inspect.MSNPCommand(b); try(candMSNP, r) {
			f.sig = sigMSNP
			return true
		}
	}
	if f.cand&candDirect != 0 && try(candDirect, inspect.DirectHandshake(b)) {
		f.sig = sigDirect
		return true
	}
	if f.cand&candSIP != 0 && try(candSIP, inspect.SIP(b)) {
		f.sig = sigSIP
		return true
	}
	return !more
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
func (a *Auditor) signalling(f *flow, dir *direction, p []byte, fromServer bool, ts int64) {
	if dir.inspected >= a.cfg.SignalLimit {
		return
	}
	if fromServer {
		n := inspect.ScanRedirects(p, a.redirects[:])
		for _, r := range a.redirects[:n] {
			what := "MSNP XFR redirect"
			if r.Ring {
				what = "MSNP RNG invitation"
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
	if _, ok := a.learned[ep]; !ok && len(a.learned) >= a.cfg.MaxNames {
		for k := range a.learned { // full: forget one
			delete(a.learned, k)
			break
		}
	}
	a.learned[ep] = &learnedEndpoint{host: host, features: feats, url: url, at: ts, what: what}
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
			k := addr(ad.As16())
			if old, ok := a.dns[k]; !ok || old.name != lk.name {
				if !ok && len(a.dns) >= a.cfg.MaxNames {
					for k := range a.dns {
						delete(a.dns, k)
						break
					}
				}
				a.dns[k] = dnsName{name: lk.name, at: ts}
			}
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

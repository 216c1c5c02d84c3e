package inspect

import (
	"bytes"
	"net/netip"
)

// MSNSLP invitations and legacy text/x-msmsgsinvite invitations
// (hosts-and-signatures §3.3), carried in switchboard MSG/UUM payloads: which
// application is being invited, and the addresses and ports the peers announce
// for the direct connection that follows.

// App is the application an invitation starts.
type App uint8

// Applications recognised from EUF-GUID (MSNSLP) and Application-GUID (legacy)
// values.
const (
	AppNone             App = iota // no application identified
	AppFileTransfer                // file transfer: EUF-GUID / Application-GUID {5D3E02AB-6190-11D3-BBBB-00C04F795683}
	AppWebcam                      // webcam / media session: EUF-GUID {4BD96FC0-AB17-4425-A14A-439185962DC8} (send) or {1C9AA97E-9C05-4583-A3BD-908A196F1E92} (receive)
	AppActivity                    // games and activities: EUF-GUID {6A13AF9C-5308-4F35-923A-67E8DDA40C2F}
	AppMSNObject                   // display picture / emoticon (MSN object): EUF-GUID {A4268EEC-FEC5-49E5-95C3-F126696BDBF6}
	AppSharePhoto                  // photo sharing: EUF-GUID {41D3E74E-04A2-4B37-96F8-08ACDB610874}
	AppWhiteboard                  // NetMeeting / application sharing / whiteboard (T.120): Application-GUID {44BBA842-CC51-11CF-AAFA-00AA00B6015C}, {F1B1920C-6A3C-4CE7-B18C-AFAB305FD03D}, {1DF57D09-637A-4CA5-91B9-2C3EDAAF62FE}
	AppRemoteAssistance            // Remote Assistance: Application-GUID {56B994A7-380F-410B-9985-C809D78C1BDC}
	AppVoice                       // legacy voice conversation (SIP/RTP): Application-GUID {02D3C01F-BF30-4825-A83A-DE7AF41648AA}
	AppLegacyWebcam                // legacy webcam: Application-GUID {2A23868E-B45F-401D-B8B0-1E16B774A5B7}
)

var appNames = [...]string{
	AppNone:             "none",
	AppFileTransfer:     "file-transfer",
	AppWebcam:           "webcam",
	AppActivity:         "activity",
	AppMSNObject:        "msn-object",
	AppSharePhoto:       "share-photo",
	AppWhiteboard:       "whiteboard",
	AppRemoteAssistance: "remote-assistance",
	AppVoice:            "voice",
	AppLegacyWebcam:     "legacy-webcam",
}

// String returns a short lower-case name: "none", "file-transfer", "webcam",
// "activity", "msn-object", "share-photo", "whiteboard", "remote-assistance",
// "voice", "legacy-webcam" (or "app(invalid)").
func (a App) String() string {
	if int(a) < len(appNames) {
		return appNames[a]
	}
	return "app(invalid)"
}

type guidApp struct {
	guid string // upper case, without braces
	app  App
}

// eufGUIDs are MSNSLP EUF-GUID values (pidgin msn.h, MSNPSharp P2PConst).
var eufGUIDs = [...]guidApp{
	{"A4268EEC-FEC5-49E5-95C3-F126696BDBF6", AppMSNObject},
	{"5D3E02AB-6190-11D3-BBBB-00C04F795683", AppFileTransfer},
	{"4BD96FC0-AB17-4425-A14A-439185962DC8", AppWebcam},
	{"1C9AA97E-9C05-4583-A3BD-908A196F1E92", AppWebcam},
	{"41D3E74E-04A2-4B37-96F8-08ACDB610874", AppSharePhoto},
	{"6A13AF9C-5308-4F35-923A-67E8DDA40C2F", AppActivity},
}

// legacyGUIDs are text/x-msmsgsinvite Application-GUID values (Miranda,
// libpurple, aMSN, MSN SDK comments; {1DF57D09-…} is the Windows Messenger
// whiteboard GUID, g_cszWhiteboardGUID in rtcshare).
var legacyGUIDs = [...]guidApp{
	{"5D3E02AB-6190-11D3-BBBB-00C04F795683", AppFileTransfer},
	{"44BBA842-CC51-11CF-AAFA-00AA00B6015C", AppWhiteboard},
	{"F1B1920C-6A3C-4CE7-B18C-AFAB305FD03D", AppWhiteboard},
	{"1DF57D09-637A-4CA5-91B9-2C3EDAAF62FE", AppWhiteboard},
	{"56B994A7-380F-410B-9985-C809D78C1BDC", AppRemoteAssistance},
	{"02D3C01F-BF30-4825-A83A-DE7AF41648AA", AppVoice},
	{"2A23868E-B45F-401D-B8B0-1E16B774A5B7", AppLegacyWebcam},
}

// lookupGUID maps a GUID value ("{…}" or bare, any case) through tab, then
// through other.
func lookupGUID(v []byte, tab, other []guidApp) App {
	if len(v) > 0 && v[0] == '{' {
		v = v[1:]
		if e := bytes.IndexByte(v, '}'); e >= 0 {
			v = v[:e]
		}
	}
	v = trimOWS(v)
	for _, g := range tab {
		if equalFold(v, g.guid) {
			return g.app
		}
	}
	for _, g := range other {
		if equalFold(v, g.guid) {
			return g.app
		}
	}
	return AppNone
}

// MaxInviteEndpoints is the number of endpoints an Invite holds.
const MaxInviteEndpoints = 8

// Invite is what ScanInvite found in a segment.
type Invite struct {
	App        App                                // first application identified (AppNone if none)
	Endpoints  [MaxInviteEndpoints]netip.AddrPort // endpoints announced for a direct connection, deduplicated
	NEndpoints int                                // number of Endpoints filled
	SLP        bool                               // MSNSLP signalling seen (MSNSLP/1.0 start line, EUF-GUID or transport headers)
	Legacy     bool                               // legacy text/x-msmsgsinvite signalling seen
}

func (inv *Invite) add(ap netip.AddrPort) {
	if !ap.Addr().IsValid() {
		return
	}
	for i := 0; i < inv.NEndpoints; i++ {
		if inv.Endpoints[i] == ap {
			return
		}
	}
	if inv.NEndpoints < len(inv.Endpoints) {
		inv.Endpoints[inv.NEndpoints] = ap
		inv.NEndpoints++
	}
}

// header ids for ScanInvite
const (
	hNone = iota
	hEUFGUID
	hAppGUID
	hExtAddrs
	hExtPort
	hIntAddrs
	hIntPort
	hV6Addrs
	hV6Port
	hExtAddrsPorts
	hIntAddrsPorts
	hV6AddrsPorts
	hLegIP
	hLegIPInt
	hLegPort
	hLegPortX
	hLegPortXInt
	hLegPublicIP
	hLegPrivateIP
	hRev = 0x80 // flag: name and value are reversed strings (WLM 2009)
)

type headerName struct {
	name string
	id   int
}

var slpHeaders = [...]headerName{
	{"EUF-GUID", hEUFGUID},
	{"Application-GUID", hAppGUID},
	{"IPv4External-Addrs", hExtAddrs},
	{"IPv4External-Port", hExtPort},
	{"IPv4Internal-Addrs", hIntAddrs},
	{"IPv4Internal-Port", hIntPort},
	{"IPv6-Addrs", hV6Addrs},
	{"IPv6-Port", hV6Port},
	{"IPv4ExternalAddrsAndPorts", hExtAddrsPorts},
	{"IPv4InternalAddrsAndPorts", hIntAddrsPorts},
	{"IPv6AddrsAndPorts", hV6AddrsPorts},
	{"srddA-lanretxE4vPI", hExtAddrs | hRev},
	{"troP-lanretxE4vPI", hExtPort | hRev},
	{"srddA-lanretnI4vPI", hIntAddrs | hRev},
	{"troP-lanretnI4vPI", hIntPort | hRev},
	{"srddA-6vPI", hV6Addrs | hRev},
	{"troP-6vPI", hV6Port | hRev},
	{"stroPdnAsrddAlanretxE4vPI", hExtAddrsPorts | hRev},
	{"stroPdnAsrddAlanretnI4vPI", hIntAddrsPorts | hRev},
	{"stroPdnAsrddA6vPI", hV6AddrsPorts | hRev},
	{"IP-Address", hLegIP},
	{"IP-Address-Internal", hLegIPInt},
	{"Port", hLegPort},
	{"PortX", hLegPortX},
	{"PortX-Internal", hLegPortXInt},
	{"Public-IP", hLegPublicIP},
	{"Private-IP", hLegPrivateIP},
}

func isHeaderNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '-'
}

// headerID identifies the header whose name ends at the colon: the run of
// name characters before it must equal a known name, or, for names of 8 or
// more characters, end with one (a binary P2P header may precede the line).
func headerID(run []byte) int {
	for _, h := range slpHeaders {
		if equalFold(run, h.name) {
			return h.id
		}
	}
	for _, h := range slpHeaders {
		if len(h.name) >= 8 && len(run) > len(h.name) && equalFold(run[len(run)-len(h.name):], h.name) {
			return h.id
		}
	}
	return hNone
}

// addrList collects announced addresses and ports until the segment is read.
type addrList struct {
	addrs [MaxInviteEndpoints]netip.Addr
	na    int
	ports [MaxInviteEndpoints]uint16
	np    int
}

// slpScan is ScanInvite's working state.
type slpScan struct {
	ext, int4, v6         addrList
	legIP, legIPInt       netip.Addr
	legPort, legX, legXIn int // -1 when absent
}

// revBuf is big enough for any address, address:port or port token.
type revBuf [64]byte

// valueTokens iterates the space-separated tokens of a header value; for a
// reversed header it yields the tokens of the reversed value (reading the value
// from its end, each token reversed into buf).
type valueTokens struct {
	v   []byte
	pos int
	rev bool
	buf revBuf
}

func newValueTokens(v []byte, rev bool) valueTokens {
	t := valueTokens{v: v, rev: rev}
	if rev {
		t.pos = len(v)
	}
	return t
}

func (t *valueTokens) next() ([]byte, bool) {
	if !t.rev {
		tok := nextField(t.v, &t.pos)
		return tok, tok != nil
	}
	for {
		e := t.pos
		for e > 0 && t.v[e-1] == ' ' {
			e--
		}
		if e == 0 {
			return nil, false
		}
		s := e
		for s > 0 && t.v[s-1] != ' ' {
			s--
		}
		t.pos = s
		if e-s > len(t.buf) {
			continue // too long to be an address or port
		}
		n := 0
		for i := e - 1; i >= s; i-- {
			t.buf[n] = t.v[i]
			n++
		}
		return t.buf[:n], true
	}
}

func (l *addrList) addAddrs(v []byte, rev bool, v6 bool) {
	t := newValueTokens(v, rev)
	for l.na < len(l.addrs) {
		tok, ok := t.next()
		if !ok {
			return
		}
		var a netip.Addr
		if v6 {
			a, ok = parseIPv6(tok)
		} else {
			a, ok = parseIPv4(tok)
		}
		if ok {
			l.addrs[l.na] = a
			l.na++
		}
	}
}

func (l *addrList) addPorts(v []byte, rev bool) {
	t := newValueTokens(v, rev)
	for l.np < len(l.ports) {
		tok, ok := t.next()
		if !ok {
			return
		}
		if p, ok := parsePort(tok); ok {
			l.ports[l.np] = p
			l.np++
		}
	}
}

// flush pairs the i-th address with the i-th port (the first port when there
// are fewer ports), as MSNPSharp does, and adds the endpoints.
func (l *addrList) flush(inv *Invite) {
	if l.np == 0 {
		return
	}
	for i := 0; i < l.na; i++ {
		p := l.ports[0]
		if i < l.np {
			p = l.ports[i]
		}
		if p != 0 {
			inv.add(netip.AddrPortFrom(l.addrs[i], p))
		}
	}
}

func addAddrPorts(inv *Invite, v []byte, rev bool) {
	t := newValueTokens(v, rev)
	for {
		tok, ok := t.next()
		if !ok {
			return
		}
		if ap, ok := parseAddrPort(tok); ok && ap.Port() != 0 {
			inv.add(ap)
		}
	}
}

// inviteAnchors are the tokens at least one of which any segment ScanInvite can
// learn from contains; a segment with none of them is rejected after these
// searches alone.
var inviteAnchors = [...][]byte{
	[]byte("GUID:"), []byte("Addr"), []byte("srddA"), []byte("-IP:"), anchorSLP, anchorLegacy,
}

var (
	anchorSLP    = []byte("MSNSLP/")
	anchorLegacy = []byte("x-msmsgsinvite")
)

// ScanInvite scans a segment (any part of a switchboard stream or of a direct
// connection: MSNSLP messages sit inside MSNP MSG/UUM payloads, possibly after
// a 48-byte binary P2P header) for Messenger invitations and the endpoints they
// announce (hosts-and-signatures §3.3), and fills inv (which it resets):
//
//   - MSNSLP (INVITE MSNMSGR:… MSNSLP/1.0): the EUF-GUID of a
//     sessionreqbody gives App; transreqbody/transrespbody announce
//     IPv4External-Addrs/-Port, IPv4Internal-Addrs/-Port, IPv6-Addrs/-Port,
//     IPv4ExternalAddrsAndPorts / IPv4InternalAddrsAndPorts ("a:p a:p"), and
//     the reversed forms WLM 2009 sends ("srddA-lanretxE4vPI: 4.3.2.1" is
//     IPv4External-Addrs: 1.2.3.4; names and values are both reversed). The
//     i-th address goes with the i-th port, or the first port.
//   - legacy text/x-msmsgsinvite: Application-GUID gives App (file transfer,
//     NetMeeting / application sharing / whiteboard, Remote Assistance, voice,
//     legacy webcam); IP-Address with Port and with PortX, IP-Address-Internal
//     with Port and with PortX-Internal are endpoints (PortX and PortX-Internal
//     are sent XORed with 0x3141 and are decoded). Public-IP / Private-IP of a
//     legacy voice invitation carry no port: they are reported with port 0.
//
// It returns true when an application or an endpoint was found. Segments
// without any of a few distinctive, case-sensitive tokens ("GUID:", "Addr",
// "srddA", "-IP:", "MSNSLP/", "x-msmsgsinvite", spelled as clients send them)
// are rejected with bytes.Index searches alone; in a segment that has one,
// header names are matched case-insensitively.
func ScanInvite(b []byte, inv *Invite) bool {
	*inv = Invite{}
	found := false
	for _, a := range inviteAnchors {
		if bytes.Index(b, a) >= 0 {
			found = true
			break
		}
	}
	if !found {
		return false
	}
	if bytes.Index(b, anchorSLP) >= 0 {
		inv.SLP = true
	}
	if bytes.Index(b, anchorLegacy) >= 0 {
		inv.Legacy = true
	}
	s := slpScan{legPort: -1, legX: -1, legXIn: -1}
	pos := 0
	for pos < len(b) {
		line := b[pos:]
		if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
			line = line[:nl]
			pos += nl + 1
		} else {
			pos = len(b)
		}
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			continue
		}
		st := c
		for st > 0 && isHeaderNameChar(line[st-1]) {
			st--
		}
		id := headerID(line[st:c])
		if id == hNone {
			continue
		}
		v := trimOWS(line[c+1:])
		s.header(inv, id, v)
	}
	s.ext.flush(inv)
	s.int4.flush(inv)
	s.v6.flush(inv)
	s.legacyEndpoint(inv, s.legIP, s.legPort, 0)
	s.legacyEndpoint(inv, s.legIP, s.legX, 0x3141)
	s.legacyEndpoint(inv, s.legIPInt, s.legPort, 0)
	s.legacyEndpoint(inv, s.legIPInt, s.legXIn, 0x3141)
	return inv.App != AppNone || inv.NEndpoints > 0
}

// legacyEndpoint adds a legacy invitation endpoint when both parts were sent
// (port < 0: absent) and the decoded port is not zero.
func (s *slpScan) legacyEndpoint(inv *Invite, a netip.Addr, port int, xor uint16) {
	if !a.IsValid() || port < 0 {
		return
	}
	if p := uint16(port) ^ xor; p != 0 {
		inv.add(netip.AddrPortFrom(a, p))
	}
}

func (s *slpScan) header(inv *Invite, id int, v []byte) {
	rev := id&hRev != 0
	switch id &^ hRev {
	case hEUFGUID:
		inv.SLP = true
		if inv.App == AppNone {
			inv.App = lookupGUID(v, eufGUIDs[:], legacyGUIDs[:])
		}
	case hAppGUID:
		inv.Legacy = true
		if inv.App == AppNone {
			inv.App = lookupGUID(v, legacyGUIDs[:], eufGUIDs[:])
		}
	case hExtAddrs:
		inv.SLP = true
		s.ext.addAddrs(v, rev, false)
	case hIntAddrs:
		inv.SLP = true
		s.int4.addAddrs(v, rev, false)
	case hV6Addrs:
		inv.SLP = true
		s.v6.addAddrs(v, rev, true)
	case hExtPort:
		s.ext.addPorts(v, rev)
	case hIntPort:
		s.int4.addPorts(v, rev)
	case hV6Port:
		s.v6.addPorts(v, rev)
	case hExtAddrsPorts, hIntAddrsPorts, hV6AddrsPorts:
		inv.SLP = true
		addAddrPorts(inv, v, rev)
	case hLegIP:
		if a, ok := parseAddr(v); ok && !s.legIP.IsValid() {
			inv.Legacy = true
			s.legIP = a
		}
	case hLegIPInt:
		if a, ok := parseAddr(v); ok && !s.legIPInt.IsValid() {
			inv.Legacy = true
			s.legIPInt = a
		}
	case hLegPort:
		if p, ok := parsePort(v); ok && s.legPort < 0 {
			s.legPort = int(p)
		}
	case hLegPortX:
		if p, ok := parsePort(v); ok && s.legX < 0 {
			s.legX = int(p)
		}
	case hLegPortXInt:
		if p, ok := parsePort(v); ok && s.legXIn < 0 {
			s.legXIn = int(p)
		}
	case hLegPublicIP, hLegPrivateIP:
		if a, ok := parseAddr(v); ok {
			inv.Legacy = true
			inv.add(netip.AddrPortFrom(a, 0))
		}
	}
}

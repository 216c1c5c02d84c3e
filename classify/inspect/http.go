package inspect

import "bytes"

// HTTP/1.x request and response heads (RFC 9112), as used by the Messenger
// HTTP gateway, SOAP services and proxies (hosts-and-signatures §3.2).

// MaxHead is the largest HTTP head (start line plus headers) the HTTP
// inspectors wait for. Past it, a head whose start line is complete is
// reported as a Match with the headers found so far.
const MaxHead = 16 << 10

// maxMethodLen bounds a request method token (the longest registered method,
// "BASELINE-CONTROL", has 16 characters).
const maxMethodLen = 24

// Request holds the parts of an HTTP/1.x request head msnaudit uses. All
// fields are sub-slices of the bytes given to ParseRequest; header values are
// trimmed of surrounding spaces and tabs, and a header that appears twice keeps
// its first value.
type Request struct {
	Method      []byte // e.g. "POST", "CONNECT"
	Target      []byte // request-target as sent: origin form, absolute URL, or host:port for CONNECT
	Host        []byte // Host header value (may include :port)
	ContentType []byte // Content-Type header value
	UserAgent   []byte // User-Agent header value
}

// Response holds the parts of an HTTP/1.x response head msnaudit uses.
type Response struct {
	Status            int    // status code, 100..999
	ContentType       []byte // Content-Type header value, a sub-slice of the input
	XMSNMessenger     bool   // an X-MSN-Messenger header is present (the Messenger HTTP gateway's session header, §3.2)
	ProxyAuthenticate bool   // a Proxy-Authenticate header is present (authenticating proxy, HTTP 407)
}

// ParseRequest parses the HTTP/1.x request head at the start of b (the
// client's bytes) into req.
//
// The request line must be METHOD SP target SP "HTTP/1." DIGIT, where METHOD
// is a token of upper-case letters (plus '-' or '_' after the first, so GET,
// POST, CONNECT, PROPFIND, M-SEARCH … all qualify), and end in CRLF or a bare
// LF. Header names are matched case-insensitively; the head ends at an empty
// line (CRLF CRLF, or bare LFs).
//
// It returns Match once the head is complete; NeedMore while it is not and b
// is shorter than MaxHead; at MaxHead without the end of the head, Match (with
// the complete header lines seen) if the request line was complete, else
// NoMatch. NoMatch as soon as the bytes cannot start a request line. req is
// reset first. Fields come only from complete lines, so with NeedMore the
// ones already filled are final: Method and Target once the request line is
// complete, a header once its line is.
func ParseRequest(b []byte, req *Request) Result {
	*req = Request{}
	over := len(b) >= MaxHead
	if over {
		b = b[:MaxHead]
	}
	more := NeedMore
	if over {
		more = NoMatch
	}
	// method
	i := 0
	for i < len(b) && i <= maxMethodLen && (isUpper(b[i]) || i > 0 && (b[i] == '-' || b[i] == '_')) {
		i++
	}
	if i == len(b) {
		if i > maxMethodLen {
			return NoMatch
		}
		return more
	}
	if i == 0 || i > maxMethodLen || b[i] != ' ' {
		return NoMatch
	}
	method := b[:i]
	// request-target: visible bytes up to the next space
	j := i + 1
	for j < len(b) && b[j] > ' ' && b[j] != 0x7f {
		j++
	}
	if j == len(b) {
		return more
	}
	if j == i+1 || b[j] != ' ' {
		return NoMatch
	}
	target := b[i+1 : j]
	// HTTP-version and line end
	k, r := versionLineEnd(b, j+1, "HTTP/1.")
	if r != Match {
		if r == NeedMore {
			return more
		}
		return r
	}
	req.Method, req.Target = method, target
	h := headerIter{b: b, pos: k}
	for {
		name, value, st := h.next()
		switch st {
		case headEnd:
			return Match
		case headShort:
			if over {
				return Match
			}
			return NeedMore
		}
		switch {
		case req.Host == nil && equalFold(name, "Host"):
			req.Host = value
		case req.ContentType == nil && equalFold(name, "Content-Type"):
			req.ContentType = value
		case req.UserAgent == nil && equalFold(name, "User-Agent"):
			req.UserAgent = value
		}
	}
}

// versionLineEnd matches proto (e.g. "HTTP/1.") followed by one digit and a
// CRLF or LF at b[k:], returning the offset after the line.
func versionLineEnd(b []byte, k int, proto string) (int, Result) {
	if r := prefixState(b[k:], proto); r != Match {
		return 0, r
	}
	k += len(proto)
	if k == len(b) {
		return 0, NeedMore
	}
	if !isDigit(b[k]) {
		return 0, NoMatch
	}
	k++
	return lineEnd(b, k)
}

// lineEnd expects CRLF or LF at b[k:] and returns the offset after it.
func lineEnd(b []byte, k int) (int, Result) {
	if k == len(b) {
		return 0, NeedMore
	}
	if b[k] == '\r' {
		k++
		if k == len(b) {
			return 0, NeedMore
		}
	}
	if b[k] != '\n' {
		return 0, NoMatch
	}
	return k + 1, Match
}

// ParseResponse parses the HTTP/1.x response head at the start of b (the
// server's bytes) into resp: status line "HTTP/1." DIGIT SP 3DIGIT [SP reason]
// CRLF, then headers (Content-Type, X-MSN-Messenger, Proxy-Authenticate are
// kept). Results follow ParseRequest: Match when the head is complete, NeedMore
// while it may still be, and at MaxHead without the end of the head, Match if
// the status line was complete, else NoMatch. resp is reset first. As with
// ParseRequest, fields come only from complete lines: with NeedMore, Status is
// already set (non-zero) once the status line is complete, and so is each
// header whose line is.
func ParseResponse(b []byte, resp *Response) Result {
	*resp = Response{}
	over := len(b) >= MaxHead
	if over {
		b = b[:MaxHead]
	}
	more := NeedMore
	if over {
		more = NoMatch
	}
	if r := prefixState(b, "HTTP/1."); r != Match {
		if r == NeedMore {
			return more
		}
		return r
	}
	k := len("HTTP/1.")
	// DIGIT SP 3DIGIT
	for n, want := 0, "d ddd"; n < len(want); n++ {
		if k == len(b) {
			return more
		}
		if want[n] == 'd' && !isDigit(b[k]) || want[n] == ' ' && b[k] != ' ' {
			return NoMatch
		}
		k++
	}
	status := int(b[k-3]-'0')*100 + int(b[k-2]-'0')*10 + int(b[k-1]-'0')
	if status < 100 {
		return NoMatch
	}
	// optional reason phrase: SP then anything but CR/LF
	if k < len(b) && b[k] == ' ' {
		nl := bytes.IndexByte(b[k:], '\n')
		if nl < 0 {
			return more
		}
		k += nl
		if b[k-1] == '\r' {
			k--
		}
	}
	k, r := lineEnd(b, k)
	if r != Match {
		if r == NeedMore {
			return more
		}
		return r
	}
	resp.Status = status
	h := headerIter{b: b, pos: k}
	for {
		name, value, st := h.next()
		switch st {
		case headEnd:
			return Match
		case headShort:
			if over {
				return Match
			}
			return NeedMore
		}
		switch {
		case resp.ContentType == nil && equalFold(name, "Content-Type"):
			resp.ContentType = value
		case equalFold(name, "X-MSN-Messenger"):
			resp.XMSNMessenger = true
		case equalFold(name, "Proxy-Authenticate"):
			resp.ProxyAuthenticate = true
		}
	}
}

const (
	headField = iota
	headEnd
	headShort
)

// headerIter walks header lines after the start line.
type headerIter struct {
	b   []byte
	pos int
}

// next returns the next header field; headEnd at the empty line that ends the
// head, headShort when the head is not complete in b. Lines without a colon
// and obsolete continuation lines are skipped.
func (h *headerIter) next() (name, value []byte, st int) {
	for {
		nl := bytes.IndexByte(h.b[h.pos:], '\n')
		if nl < 0 {
			return nil, nil, headShort
		}
		line := h.b[h.pos : h.pos+nl]
		h.pos += nl + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			return nil, nil, headEnd
		}
		if isSpaceTab(line[0]) { // obs-fold continuation
			continue
		}
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			continue
		}
		return trimOWS(line[:c]), trimOWS(line[c+1:]), headField
	}
}

// IsGateway reports whether req is a Messenger HTTP gateway request
// (hosts-and-signatures §3.2): its target path contains /gateway/gateway.dll
// (case-insensitively, in origin or absolute form), or its Content-Type is
// application/x-msn-messenger.
func IsGateway(req *Request) bool {
	if req == nil {
		return false
	}
	if indexFoldSlash(req.Target, "/gateway/gateway.dll") >= 0 {
		return true
	}
	return isMSNMessengerType(req.ContentType)
}

// isMSNMessengerType reports whether a Content-Type value is
// application/x-msn-messenger (parameters allowed).
func isMSNMessengerType(ct []byte) bool {
	const t = "application/x-msn-messenger"
	if !hasPrefixFold(ct, t) {
		return false
	}
	rest := ct[len(t):]
	return len(rest) == 0 || rest[0] == ';' || isSpaceTab(rest[0])
}

// HostOnly returns the host part of a Host header value or authority: it strips
// a trailing :port and the brackets of an IPv6 literal ("[2001:db8::1]:443" →
// "2001:db8::1", "messenger.hotmail.com:1863" → "messenger.hotmail.com"). An
// unbracketed IPv6 address is returned unchanged. The result is a sub-slice.
func HostOnly(hostport []byte) []byte {
	h := hostport
	if len(h) > 0 && h[0] == '[' {
		if end := bytes.IndexByte(h, ']'); end > 0 {
			return h[1:end]
		}
		return h[1:]
	}
	c := bytes.IndexByte(h, ':')
	if c < 0 {
		return h
	}
	if bytes.IndexByte(h[c+1:], ':') >= 0 { // bare IPv6
		return h
	}
	return h[:c]
}

// TargetAuthority returns the authority (host[:port]) named by a request
// target: the host:port of a CONNECT (authority-form) target, or the authority
// of an absolute-form target such as
// "http://gateway.messenger.hotmail.com/gateway/gateway.dll?…" (a proxy
// request, §3.2), without any userinfo. It returns nil for origin-form ("/…")
// and asterisk-form targets. The result is a sub-slice of target.
func TargetAuthority(target []byte) []byte {
	if len(target) == 0 || target[0] == '/' || target[0] == '*' {
		return nil
	}
	a := target
	if s := bytes.Index(target, []byte("://")); s > 0 {
		a = target[s+3:]
		for i, c := range a {
			if c == '/' || c == '?' || c == '#' {
				a = a[:i]
				break
			}
		}
	}
	if at := bytes.LastIndexByte(a, '@'); at >= 0 {
		a = a[at+1:]
	}
	if len(a) == 0 {
		return nil
	}
	return a
}

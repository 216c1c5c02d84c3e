package classify

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"strings"
	"sync"
)

//go:embed kb960820.rules
var defaultRules []byte

// FeatureSet is a set of features, bit i standing for Rules.Features[i].
type FeatureSet uint64

// Has reports whether feature i is in the set.
func (s FeatureSet) Has(i int) bool { return s&(1<<uint(i)) != 0 }

// Len is the number of features in the set.
func (s FeatureSet) Len() int { return bits.OnesCount64(uint64(s)) }

// Feature is one row of the article's port table.
type Feature struct {
	ID    string // short name used inside the rules file
	Name  string // the article's name, used in reports
	Ports string // the article's ports text
	Hint  string // what to open when the feature fails
}

// PortClass says how much a port match alone tells.
type PortClass uint8

// Port classes, from most to least telling.
const (
	Distinctive PortClass = iota // only Messenger uses it: attributes a flow by itself
	Shared                       // needs a Messenger hostname or signature
	Range                        // a wide range: makes a flow "possible" only
)

var portClassNames = [...]string{Distinctive: "distinctive", Shared: "shared", Range: "range"}

func (c PortClass) String() string { return portClassNames[c] }

// PortRule is one line of the port table.
type PortRule struct {
	TCP, UDP bool
	Lo, Hi   uint16
	Class    PortClass
	Features FeatureSet
}

// URLRow is one row of the article's URL table (or one recovered for it).
type URLRow struct {
	URL      string // as written in the rules file, e.g. https://*.contacts.msn.com
	Scheme   string // http, https or "" (raw TCP)
	Domain   string // host without "*.", lowercase
	Wildcard bool   // host was "*.Domain": Domain and every name below it
	Port     uint16 // the row's port: explicit, or the scheme's
	Features FeatureSet
	Source   string // article, kb927847, inferred, practice
	Function string // the article's function text
}

// Rules is a parsed rule table: the article as data.
type Rules struct {
	Title      string
	Features   []Feature
	Ports      []PortRule
	URLs       []URLRow
	Notes      map[string]string     // outcome -> note
	Signatures map[string]FeatureSet // signature name -> features
	Text       []byte                // the file the rules were read from
}

// Signature names a rules file may give features to.
const (
	SigMSNP      = "msnp"
	SigGateway   = "http-gateway"
	SigDirect    = "direct-connection"
	SigSIP       = "sip"
	SigEchoProbe = "echo-probe"
	// Invitations (MSNSLP EUF-GUID or legacy Application-GUID): the features
	// of the direct connections they announce.
	SigSLPFile       = "invite-file-transfer"
	SigSLPWebcam     = "invite-webcam"
	SigSLPActivity   = "invite-activity"
	SigSLPWhiteboard = "invite-whiteboard"
	SigSLPRemote     = "invite-remote-assistance"
	SigSLPVoice      = "invite-voice"
	maxFeatures      = 64
	rulesMaxLine     = 64 << 10
	defaultRuleSrc   = "kb960820.rules"
)

var knownSignatures = []string{SigMSNP, SigGateway, SigDirect, SigSIP, SigEchoProbe,
	SigSLPFile, SigSLPWebcam, SigSLPActivity, SigSLPWhiteboard, SigSLPRemote, SigSLPVoice}

// Default returns the embedded rule table for KB 960820, parsed once and
// shared: callers must not modify it.
func Default() *Rules { return defaultParsed() }

var defaultParsed = sync.OnceValue(func() *Rules {
	r, err := ParseRules(defaultRuleSrc, bytes.NewReader(defaultRules))
	if err != nil {
		panic("classify: embedded rules do not parse: " + err.Error())
	}
	return r
})

// RulesError reports a malformed rules file, naming the line and field.
type RulesError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *RulesError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: field %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// ParseRules reads a rules file (see kb960820.rules for the format).
func ParseRules(name string, r io.Reader) (*Rules, error) {
	text, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read rules %s: %w", name, err)
	}
	rs := &Rules{Notes: map[string]string{}, Signatures: map[string]FeatureSet{}, Text: text}
	featureIdx := map[string]int{}
	// featureSet resolves a comma-separated list of feature ids; features must
	// be defined above the line that names them.
	featureSet := func(ids string) (FeatureSet, error) {
		var set FeatureSet
		for _, id := range strings.Split(ids, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			i, ok := featureIdx[id]
			if !ok {
				return 0, fmt.Errorf("unknown feature %q (define it with a feature line above)", id)
			}
			set |= 1 << uint(i)
		}
		return set, nil
	}

	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 4096), rulesMaxLine)
	line := 0
	for sc.Scan() {
		line++
		fail := func(field, format string, args ...any) error {
			return &RulesError{File: name, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		directive, fields, err := splitDirective(sc.Text())
		if err != nil {
			return nil, fail("", "%v", err)
		}
		if directive == "" {
			continue
		}
		get := func(key string, required bool) (string, error) {
			v, ok := fields[key]
			if !ok && required {
				return "", fail(key, "missing")
			}
			delete(fields, key)
			return v, nil
		}
		switch directive {
		case "title":
			if rs.Title, err = get("text", true); err != nil {
				return nil, err
			}
		case "feature":
			var f Feature
			for _, kv := range []struct {
				key string
				dst *string
				req bool
			}{{"id", &f.ID, true}, {"name", &f.Name, true}, {"ports", &f.Ports, false}, {"hint", &f.Hint, false}} {
				if *kv.dst, err = get(kv.key, kv.req); err != nil {
					return nil, err
				}
			}
			if !validID(f.ID) {
				return nil, fail("id", "%q is not a valid id (letters, digits, - and _)", f.ID)
			}
			if _, dup := featureIdx[f.ID]; dup {
				return nil, fail("id", "feature %q defined twice", f.ID)
			}
			if len(rs.Features) == maxFeatures {
				return nil, fail("id", "more than %d features", maxFeatures)
			}
			featureIdx[f.ID] = len(rs.Features)
			rs.Features = append(rs.Features, f)
		case "port":
			var p PortRule
			proto, err := get("proto", true)
			if err != nil {
				return nil, err
			}
			for _, t := range strings.Split(proto, ",") {
				switch strings.TrimSpace(strings.ToLower(t)) {
				case "tcp":
					p.TCP = true
				case "udp":
					p.UDP = true
				default:
					return nil, fail("proto", "%q is not tcp, udp or tcp,udp", proto)
				}
			}
			ports, err := get("port", true)
			if err != nil {
				return nil, err
			}
			if p.Lo, p.Hi, err = parsePortRange(ports); err != nil {
				return nil, fail("port", "%v", err)
			}
			class, err := get("class", true)
			if err != nil {
				return nil, err
			}
			switch class {
			case "distinctive":
				p.Class = Distinctive
			case "shared":
				p.Class = Shared
			case "range":
				p.Class = Range
			default:
				return nil, fail("class", "%q is not distinctive, shared or range", class)
			}
			ids, err := get("features", true)
			if err != nil {
				return nil, err
			}
			if p.Features, err = featureSet(ids); err != nil {
				return nil, fail("features", "%v", err)
			}
			rs.Ports = append(rs.Ports, p)
		case "url":
			u, err := get("url", true)
			if err != nil {
				return nil, err
			}
			row, err := parseURLRow(u)
			if err != nil {
				return nil, fail("url", "%v", err)
			}
			if row.Source, err = get("source", false); err != nil {
				return nil, err
			}
			if row.Function, err = get("function", false); err != nil {
				return nil, err
			}
			ids, err := get("features", false)
			if err != nil {
				return nil, err
			}
			if row.Features, err = featureSet(ids); err != nil {
				return nil, fail("features", "%v", err)
			}
			rs.URLs = append(rs.URLs, row)
		case "note":
			outcome, err := get("outcome", true)
			if err != nil {
				return nil, err
			}
			if !validOutcome(outcome) {
				return nil, fail("outcome", "%q is not an outcome (%s)", outcome, strings.Join(outcomeNames[:], ", "))
			}
			if rs.Notes[outcome], err = get("text", true); err != nil {
				return nil, err
			}
		case "signature":
			sig, err := get("name", true)
			if err != nil {
				return nil, err
			}
			known := false
			for _, k := range knownSignatures {
				known = known || k == sig
			}
			if !known {
				return nil, fail("name", "unknown signature %q (known: %s)", sig, strings.Join(knownSignatures, ", "))
			}
			ids, err := get("features", true)
			if err != nil {
				return nil, err
			}
			if rs.Signatures[sig], err = featureSet(ids); err != nil {
				return nil, fail("features", "%v", err)
			}
		default:
			return nil, fail("", "unknown directive %q (title, feature, port, url, note, signature)", directive)
		}
		for k := range fields {
			return nil, fail(k, "unknown field for %s", directive)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &RulesError{File: name, Line: line + 1, Msg: err.Error()}
	}
	if len(rs.Features) == 0 {
		return nil, &RulesError{File: name, Line: line, Msg: "no feature lines: a rule table needs at least one feature"}
	}
	if rs.Title == "" {
		rs.Title = name
	}
	return rs, nil
}

func validID(id string) bool {
	if id == "" {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func parsePortRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "-")
	l, err := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	if err != nil || l == 0 {
		return 0, 0, fmt.Errorf("%q is not a port (1-65535) or range (N-M)", s)
	}
	h := l
	if isRange {
		if h, err = strconv.ParseUint(strings.TrimSpace(b), 10, 16); err != nil || h < l {
			return 0, 0, fmt.Errorf("%q is not a port range N-M with N <= M <= 65535", s)
		}
	}
	return uint16(l), uint16(h), nil
}

// parseURLRow reads "scheme://host[:port][/path]" or "host:port" (raw TCP).
func parseURLRow(u string) (URLRow, error) {
	row := URLRow{URL: u}
	rest := u
	if scheme, after, ok := strings.Cut(u, "://"); ok {
		row.Scheme, rest = strings.ToLower(scheme), after
		switch row.Scheme {
		case "http":
			row.Port = 80
		case "https":
			row.Port = 443
		default:
			return row, fmt.Errorf("scheme %q is not http or https (write host:port for raw TCP)", scheme)
		}
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	host := rest
	if h, p, ok := strings.Cut(rest, ":"); ok {
		port, err := strconv.ParseUint(p, 10, 16)
		if err != nil || port == 0 {
			return row, fmt.Errorf("port %q is not 1-65535", p)
		}
		host, row.Port = h, uint16(port)
	}
	if row.Port == 0 {
		return row, fmt.Errorf("%q needs a scheme (http://, https://) or a :port", u)
	}
	host = strings.ToLower(host)
	if d, ok := strings.CutPrefix(host, "*."); ok {
		row.Wildcard, host = true, d
	}
	if host == "" || strings.ContainsAny(host, "* \t") {
		return row, fmt.Errorf("host %q is not a name or *.name", rest)
	}
	row.Domain = host
	return row, nil
}

// splitDirective splits one rules line into its directive and key=value
// fields. Values may be "quoted", with \" and \\ escapes.
func splitDirective(line string) (string, map[string]string, error) {
	s := strings.TrimSpace(line)
	if s == "" || s[0] == '#' {
		return "", nil, nil
	}
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, map[string]string{}, nil
	}
	directive, s := s[:i], s[i:]
	fields := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" || s[0] == '#' {
			return directive, fields, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || strings.ContainsAny(s[:eq], " \t\"") {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			return "", nil, fmt.Errorf("%q is not key=value", s[:end])
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			j := 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return "", nil, fmt.Errorf("field %s: unterminated quoted value", key)
			}
			val, s = b.String(), s[j+1:]
			if s != "" && s[0] != ' ' && s[0] != '\t' {
				return "", nil, fmt.Errorf("field %s: text right after the closing quote", key)
			}
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		if _, dup := fields[key]; dup {
			return "", nil, fmt.Errorf("field %s given twice", key)
		}
		fields[key] = val
	}
}

// MatchHost finds the URL row for a hostname on a server port: an exact name
// beats a wildcard, a longer wildcard a shorter one, and among rows equally
// specific the one whose port is the flow's wins. It returns -1 when no row
// names the host. Case and a trailing dot are ignored.
func (rs *Rules) MatchHost(host string, port uint16) int { return matchHost(rs, host, port) }

func matchHost[T string | []byte](rs *Rules, host T, port uint16) int {
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	best, bestScore := -1, -1
	for i := range rs.URLs {
		u := &rs.URLs[i]
		var score int
		switch {
		case len(host) == len(u.Domain) && hasSuffixFold(host, u.Domain):
			score = len(u.Domain) << 1
			if !u.Wildcard {
				score = 1 << 20
			}
		case u.Wildcard && len(host) > len(u.Domain) && host[len(host)-len(u.Domain)-1] == '.' && hasSuffixFold(host, u.Domain):
			score = len(u.Domain) << 1
		default:
			continue
		}
		if u.Port == port {
			score++
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// hasSuffixFold reports whether s ends with the lowercase suffix, ignoring
// ASCII case in s.
func hasSuffixFold[T string | []byte](s T, suffix string) bool {
	if len(s) < len(suffix) {
		return false
	}
	s = s[len(s)-len(suffix):]
	for i := 0; i < len(suffix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != suffix[i] {
			return false
		}
	}
	return true
}

// MatchPort returns the features that the server port gives a flow, per class.
func (rs *Rules) MatchPort(tcp bool, port uint16) (byClass [3]FeatureSet) {
	for _, p := range rs.Ports {
		if (tcp && p.TCP || !tcp && p.UDP) && port >= p.Lo && port <= p.Hi {
			byClass[p.Class] |= p.Features
		}
	}
	return byClass
}

// FeatureNames lists the names of the features in a set, in rule order.
func (rs *Rules) FeatureNames(s FeatureSet) []string {
	names := make([]string, 0, s.Len())
	for i := range rs.Features {
		if s.Has(i) {
			names = append(names, rs.Features[i].Name)
		}
	}
	return names
}

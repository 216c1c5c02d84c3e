package classify

import "fmt"

// Outcome is what happened to one flow or lookup: DESIGN.md's stable vocabulary.
type Outcome uint8

// The outcomes. Their names are a contract of the JSON report.
const (
	OK Outcome = iota
	Refused
	Dropped
	Reset
	ResetAfterHello
	ICMPUnreachable
	ProxyAuth
	HTTPBlocked
	DNSFailed
	DNSSinkhole
	KernelDrop
	Incomplete
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	OK:              "ok",
	Refused:         "refused",
	Dropped:         "dropped",
	Reset:           "reset",
	ResetAfterHello: "reset_after_hello",
	ICMPUnreachable: "icmp_unreachable",
	ProxyAuth:       "proxy_auth",
	HTTPBlocked:     "http_blocked",
	DNSFailed:       "dns_failed",
	DNSSinkhole:     "dns_sinkhole",
	KernelDrop:      "kernel_drop",
	Incomplete:      "incomplete",
}

func (o Outcome) String() string { return outcomeNames[o] }

// Failed reports whether the outcome counts as a failed attempt. Incomplete is
// neither ok nor failed.
func (o Outcome) Failed() bool { return o != OK && o != Incomplete }

// MarshalText writes the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

func validOutcome(s string) bool {
	for _, n := range outcomeNames {
		if n == s {
			return true
		}
	}
	return false
}

// Verdict sums up the attempts of one feature or URL row.
type Verdict uint8

// The verdicts.
const (
	NotSeen Verdict = iota
	VerdictOK
	Partial
	Blocked
)

var verdictNames = [...]string{NotSeen: "not_seen", VerdictOK: "ok", Partial: "partial", Blocked: "blocked"}

func (v Verdict) String() string { return verdictNames[v] }

// MarshalText writes the verdict's name.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

func verdictOf(ok, failed int) Verdict {
	switch {
	case ok == 0 && failed == 0:
		return NotSeen
	case failed == 0:
		return VerdictOK
	case ok == 0:
		return Blocked
	}
	return Partial
}

// UnmarshalText reads an outcome's name.
func (o *Outcome) UnmarshalText(b []byte) error {
	for i, n := range outcomeNames {
		if n == string(b) {
			*o = Outcome(i)
			return nil
		}
	}
	return fmt.Errorf("unknown outcome %q", b)
}

// UnmarshalText reads a verdict's name.
func (v *Verdict) UnmarshalText(b []byte) error {
	for i, n := range verdictNames {
		if n == string(b) {
			*v = Verdict(i)
			return nil
		}
	}
	return fmt.Errorf("unknown verdict %q", b)
}

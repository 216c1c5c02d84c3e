package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/msnaudit/msnaudit/classify"
)

func render(w io.Writer, r *classify.Report, format string, color bool) error {
	switch format {
	case "json":
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(append(indentJSON(make([]byte, 0, len(b)*2), b), '\n'))
		return err
	case "markdown":
		return renderMarkdown(w, r)
	case "csv":
		return renderCSV(w, r)
	}
	return renderTable(w, r, color)
}

// clean makes a string from the wire safe to print: control characters,
// escape sequences, bidirectional overrides and invalid UTF-8 become \xNN
// or \u{NNNN} escapes.
func clean(s string) string {
	safe := true
	for _, c := range s {
		if unsafeRune(c) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case c < 0x80 && unsafeRune(c):
			fmt.Fprintf(&b, `\x%02x`, c)
		case unsafeRune(c):
			fmt.Fprintf(&b, `\u{%04x}`, c)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func unsafeRune(c rune) bool {
	return c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0 || c == utf8.RuneError ||
		c >= 0x202a && c <= 0x202e || c >= 0x2066 && c <= 0x2069 || c == 0x200e || c == 0x200f
}

const (
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiGreen  = "\x1b[32m"
	ansiDim    = "\x1b[2m"
	ansiBold   = "\x1b[1m"
	ansiReset  = "\x1b[0m"
)

func paint(on bool, code, s string) string {
	if !on {
		return s
	}
	return code + s + ansiReset
}

func verdictColor(v classify.Verdict) string {
	switch v {
	case classify.Blocked:
		return ansiRed
	case classify.Partial:
		return ansiYellow
	case classify.VerdictOK:
		return ansiGreen
	}
	return ansiDim
}

func newTable(w io.Writer, header ...any) *tablewriter.Table {
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNormal),
		tablewriter.WithRowMaxWidth(60),
	)
	t.Header(header...)
	return t
}

// appendRow copies the cells: tablewriter keeps the caller's slice.
func appendRow(t *tablewriter.Table, cells ...string) error {
	return t.Append(append([]string(nil), cells...))
}

func hhmmss(stamp string) string {
	t, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		return stamp
	}
	return t.UTC().Format("15:04:05.000")
}

func captureLine(r *classify.Report) string {
	c := &r.Capture
	s := fmt.Sprintf("%s: %d packets, %d bytes", strings.Join(c.Inputs, ", "), c.Packets, c.Bytes)
	if c.First != "" {
		first, _ := time.Parse(time.RFC3339Nano, c.First)
		last, _ := time.Parse(time.RFC3339Nano, c.Last)
		s += fmt.Sprintf(", %s to %s UTC (%s)", first.UTC().Format("2006-01-02 15:04:05"), last.UTC().Format("15:04:05"), last.Sub(first).Round(time.Millisecond))
	}
	s += fmt.Sprintf(", %d flows", c.FlowsTotal)
	if c.Malformed > 0 {
		s += fmt.Sprintf(", %d malformed", c.Malformed)
	}
	if c.FlowsEvicted > 0 {
		s += fmt.Sprintf(", %d flows finished early (flow table full)", c.FlowsEvicted)
	}
	if c.KernelDrops > 0 {
		s += fmt.Sprintf(", %d packets DROPPED by the kernel (capture ring full): verdicts may be affected", c.KernelDrops)
	}
	if c.EventsLost > 0 {
		s += fmt.Sprintf(", %d kernel events LOST (eBPF ring buffer full): verdicts may be affected", c.EventsLost)
	}
	if c.KernelFlowsEvicted > 0 {
		s += fmt.Sprintf(", %d flows evicted from the kernel's flow table (full): their counts may be low", c.KernelFlowsEvicted)
	}
	if c.Truncated {
		s += ", TRUNCATED: the capture is cut short"
	}
	return s
}

func featureCounts(f *classify.FeatureResult) (attempts string) {
	return strconv.Itoa(f.OK + f.Failed)
}

// failure is one row of the failed-attempts table: a flow or a lookup.
type failure struct {
	time, endpoints, host, feature string
	outcome                        classify.Outcome
	detail                         string
}

// failures lists the failed Messenger flows and lookups in time order.
func failures(r *classify.Report, arrow string) []failure {
	var out []failure
	for i := range r.Lookups {
		lk := &r.Lookups[i]
		if lk.Outcome.Failed() {
			out = append(out, failure{lk.First, "DNS lookup", lk.Name, featureShort(lk.Features), lk.Outcome, lookupDetail(lk)})
		}
	}
	for i := range r.Flows {
		f := &r.Flows[i]
		if f.Outcome.Failed() && !f.Possible() && f.Evidence != "" {
			out = append(out, failure{f.First, f.Transport + " " + f.Client + " " + arrow + " " + f.Server, f.Host,
				featureShort(f.Features), f.Outcome, f.Detail})
		}
	}
	// RFC 3339 strings drop trailing zeros, so compare them as times.
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	sort.SliceStable(out, func(i, j int) bool { return at(out[i].time).Before(at(out[j].time)) })
	return out
}

func featureShort(names []string) string {
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, "; ")
}

func hostOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return clean(s)
}

func renderTable(w io.Writer, r *classify.Report, color bool) error {
	fmt.Fprintf(w, "%s\n%s\n\n", paint(color, ansiBold, "msnaudit: "+r.Rules), captureLine(r))

	fmt.Fprintln(w, paint(color, ansiBold, "Features"))
	t := newTable(w, "Feature", "Article ports", "Attempts", "OK", "Failed", "Possible", "Verdict", "Main evidence")
	for i := range r.Features {
		f := &r.Features[i]
		v := paint(color, verdictColor(f.Verdict), f.Verdict.String())
		if err := appendRow(t, f.Feature, f.Ports, featureCounts(f), strconv.Itoa(f.OK), strconv.Itoa(f.Failed),
			strconv.Itoa(f.Possible), v, hostOrDash(f.Evidence)); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}

	var seen []*classify.URLResult
	for i := range r.URLs {
		if r.URLs[i].Verdict != classify.NotSeen {
			seen = append(seen, &r.URLs[i])
		}
	}
	fmt.Fprintf(w, "\n%s\n", paint(color, ansiBold, "Article URLs seen"))
	if len(seen) == 0 {
		fmt.Fprintln(w, "none of the article's URLs was seen")
	} else {
		t = newTable(w, "URL", "Function", "Attempts", "OK", "Failed", "Verdict")
		for _, u := range seen {
			v := paint(color, verdictColor(u.Verdict), u.Verdict.String())
			if err := appendRow(t, u.URL, u.Function, strconv.Itoa(u.OK+u.Failed), strconv.Itoa(u.OK), strconv.Itoa(u.Failed), v); err != nil {
				return err
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
	}

	failed := failures(r, "->")
	fmt.Fprintf(w, "\n%s\n", paint(color, ansiBold, "Failed attempts"))
	if len(failed) == 0 {
		fmt.Fprintln(w, "none")
	} else {
		t = newTable(w, "Time (UTC)", "Client -> server", "Host", "Feature", "Outcome", "Detail")
		for _, f := range failed {
			if err := appendRow(t, hhmmss(f.time), f.endpoints, hostOrDash(f.host), f.feature,
				paint(color, ansiRed, f.outcome.String()), clean(f.detail)); err != nil {
				return err
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	possible := 0
	for i := range r.Flows {
		if r.Flows[i].Possible() {
			possible++
		}
	}
	if possible > 0 {
		fmt.Fprintf(w, "\n%d possible flows matched only the article's wide port ranges; they decide no verdict (see --format json).\n", possible)
	}

	if len(r.Hints) > 0 {
		fmt.Fprintf(w, "\n%s\n", paint(color, ansiBold, "What to open"))
		for _, h := range r.Hints {
			feature := h.Feature
			if feature == "" {
				feature = "URL"
			}
			fmt.Fprintf(w, "- %s: %s\n", paint(color, ansiBold, feature), clean(h.Text))
		}
	}
	return nil
}

func lookupDetail(lk *classify.LookupRecord) string {
	switch lk.Outcome {
	case classify.DNSSinkhole:
		return "answered " + clean(strings.Join(lk.Answers, ", "))
	case classify.Dropped:
		return fmt.Sprintf("%d queries, no answer", lk.Queries)
	}
	if lk.RCode == "NOERROR" {
		return "NOERROR with no address"
	}
	return lk.RCode
}

// mdCell escapes a markdown table cell.
func mdCell(s string) string {
	s = clean(s)
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "|", `\|`)
	for _, c := range "*_`<>[]" {
		s = strings.ReplaceAll(s, string(c), `\`+string(c))
	}
	return s
}

func mdRow(w io.Writer, cells ...string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
}

func mdHeader(w io.Writer, cells ...string) {
	mdRow(w, cells...)
	seps := make([]string, len(cells))
	for i := range seps {
		seps[i] = "---"
	}
	mdRow(w, seps...)
}

func renderMarkdown(w io.Writer, r *classify.Report) error {
	fmt.Fprintf(w, "# msnaudit: %s\n\n%s\n\n## Features\n\n", mdCell(r.Rules), mdCell(captureLine(r)))
	mdHeader(w, "Feature", "Article ports", "Attempts", "OK", "Failed", "Possible", "Verdict", "Main evidence")
	for _, f := range r.Features {
		mdRow(w, mdCell(f.Feature), mdCell(f.Ports), featureCounts(&f), strconv.Itoa(f.OK), strconv.Itoa(f.Failed),
			strconv.Itoa(f.Possible), "**"+f.Verdict.String()+"**", mdCell(f.Evidence))
	}
	fmt.Fprint(w, "\n## Article URLs seen\n\n")
	mdHeader(w, "URL", "Function", "Attempts", "OK", "Failed", "Verdict")
	for _, u := range r.URLs {
		if u.Verdict != classify.NotSeen {
			mdRow(w, mdCell(u.URL), mdCell(u.Function), strconv.Itoa(u.OK+u.Failed), strconv.Itoa(u.OK), strconv.Itoa(u.Failed), u.Verdict.String())
		}
	}
	fmt.Fprint(w, "\n## Failed attempts\n\n")
	mdHeader(w, "Time (UTC)", "Client → server", "Host", "Feature", "Outcome", "Detail")
	for _, f := range failures(r, "→") {
		mdRow(w, hhmmss(f.time), mdCell(f.endpoints), mdCell(hostOrDash(f.host)), mdCell(f.feature), f.outcome.String(), mdCell(f.detail))
	}
	if len(r.Hints) > 0 {
		fmt.Fprint(w, "\n## What to open\n\n")
		for _, h := range r.Hints {
			feature := h.Feature
			if feature == "" {
				feature = "URL"
			}
			fmt.Fprintf(w, "- **%s**: %s\n", mdCell(feature), mdCell(h.Text))
		}
	}
	return nil
}

// renderCSV writes one row per listed flow, for spreadsheets.
func renderCSV(w io.Writer, r *classify.Report) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"first", "last", "transport", "client", "server", "host", "host_source", "url", "features",
		"evidence", "outcome", "detail", "packets", "bytes"})
	for _, f := range r.Flows {
		cw.Write([]string{f.First, f.Last, f.Transport, f.Client, f.Server, csvCell(f.Host), f.HostSource, f.URL,
			strings.Join(f.Features, "; "), f.Evidence, f.Outcome.String(), csvCell(f.Detail),
			strconv.FormatUint(f.Packets, 10), strconv.FormatUint(f.Bytes, 10)})
	}
	cw.Flush()
	return cw.Error()
}

// csvCell sanitizes a cell and defuses spreadsheet formulas.
func csvCell(s string) string {
	s = clean(s)
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		s = "'" + s
	}
	return s
}

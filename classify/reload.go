package classify

import (
	"errors"
	"fmt"
)

// RulesChangeError is SetRules refusing a rule table that drops a feature or
// a URL row of the table in use: the counts so far would have nowhere to go.
type RulesChangeError struct {
	What string // "feature" or "URL row"
	Name string // the feature's id or the row's url
}

func (e *RulesChangeError) Error() string {
	return fmt.Sprintf("the new rules drop the %s %q, and its counts so far would be lost "+
		"(a reload may add features and URL rows and change anything else, but not drop them)", e.What, e.Name)
}

// SetRules makes rs the auditor's rule table from now on, keeping every
// count so far: live monitoring reloads its rules without losing what it
// counted.
//
// Flows judged from now on, new ones and the ones still open, are judged
// and attributed with rs. Flows already judged keep their outcome and
// attribution, and their counts stay with their feature and URL row, which
// rs must therefore keep: every feature of the table in use (by id) and
// every URL row (by its url text; the n-th row with a text stands for the
// n-th). rs may add features and URL rows, reorder them and change
// anything else: names, hints, ports, signatures, notes, the features of a
// row. A table that drops a feature or a URL row is refused with a
// *RulesChangeError and the auditor keeps the rules it had.
//
// A name looked up before the change keeps the URL row it was matched to.
// What the auditor would have remembered only had rs been in use is not
// made up afterwards: lookups of a name only rs knows count from the
// change, and a DNS answer for such a name seen before it does not name the
// flows to its addresses (their TLS SNI or HTTP Host, or a later answer,
// do).
func (a *Auditor) SetRules(rs *Rules) error {
	if rs == nil || len(rs.Features) == 0 {
		return errors.New("classify: SetRules needs a rule table with at least one feature")
	}
	old := a.rules
	if rs == old {
		return nil
	}
	featNew := make(map[string]int, len(rs.Features))
	for i, f := range rs.Features {
		featNew[f.ID] = i
	}
	featMap := make([]int, len(old.Features))
	for i, f := range old.Features {
		j, ok := featNew[f.ID]
		if !ok {
			return &RulesChangeError{What: "feature", Name: f.ID}
		}
		featMap[i] = j
	}
	rowsNew := make(map[string][]int, len(rs.URLs))
	for i, u := range rs.URLs {
		rowsNew[u.URL] = append(rowsNew[u.URL], i)
	}
	urlMap := make([]int, len(old.URLs))
	for i, u := range old.URLs {
		js := rowsNew[u.URL]
		if len(js) == 0 {
			return &RulesChangeError{What: "URL row", Name: u.URL}
		}
		urlMap[i], rowsNew[u.URL] = js[0], js[1:]
	}
	set := func(s FeatureSet) FeatureSet {
		var out FeatureSet
		for i, j := range featMap {
			if s.Has(i) {
				out |= 1 << uint(j)
			}
		}
		return out
	}
	row := func(r int) int {
		if r < 0 || r >= len(urlMap) {
			return -1
		}
		return urlMap[r]
	}

	// The judged flows: tallies move to their feature's and row's new
	// places; listed flows name them by their new indexes.
	res := &a.res
	features := make([]tally, len(rs.Features))
	for i := range res.features {
		features[featMap[i]] = res.features[i]
	}
	urls := make([]tally, len(rs.URLs))
	for i := range res.urls {
		urls[urlMap[i]] = res.urls[i]
	}
	res.features, res.urls = features, urls
	for i := range res.records {
		l := &res.records[i]
		l.feats, l.row = set(l.feats), int32(row(int(l.row)))
	}

	// What signalling announced, for flows to come and flows open (an open
	// flow may hold an endpoint the map has forgotten).
	moved := make(map[*learnedEndpoint]bool, len(a.learned))
	move := func(l *learnedEndpoint) {
		if l == nil || moved[l] {
			return
		}
		moved[l] = true
		l.features, l.url = set(l.features), row(l.url)
	}
	for _, l := range a.learned {
		move(l)
	}
	for _, l := range a.learnedNames {
		move(l)
	}
	for _, sh := range a.shards {
		for f := sh.table.head; f != nil; f = f.next {
			move(f.learned)
		}
	}

	// A name's lookups keep the row they were matched to.
	for _, lk := range a.lookups {
		lk.row = row(lk.row)
	}

	a.rules, a.cfg.Rules = rs, rs
	return nil
}

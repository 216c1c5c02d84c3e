package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// indentReference is what indentJSON replaces: json.Indent, then the unsafe
// runes escaped.
func indentReference(t testing.TB, compact []byte) []byte {
	var b bytes.Buffer
	if err := json.Indent(&b, compact, "", "  "); err != nil {
		t.Fatal(err)
	}
	var out []byte
	for s := b.Bytes(); len(s) > 0; {
		c, n := utf8.DecodeRune(s)
		if c >= utf8.RuneSelf && unsafeRune(c) && !(c == utf8.RuneError && n == 1) {
			out = append(out, []byte(`\u`+string("0123456789abcdef"[c>>12&15])+string("0123456789abcdef"[c>>8&15])+
				string("0123456789abcdef"[c>>4&15])+string("0123456789abcdef"[c&15]))...)
		} else {
			out = append(out, s[:n]...)
		}
		s = s[n:]
	}
	return out
}

// TestIndentJSONMatchesIndent compares indentJSON with json.Indent on every
// golden JSON report of the project, compacted.
func TestIndentJSONMatchesIndent(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.json")
	more, _ := filepath.Glob("../../testdata/*.expect.json")
	files = append(files, more...)
	if len(files) < 10 {
		t.Fatalf("only %d JSON files to compare on", len(files))
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, src); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if got, want := indentJSON(nil, compact.Bytes()), indentReference(t, compact.Bytes()); !bytes.Equal(got, want) {
			t.Errorf("%s: indentJSON differs from json.Indent:\n%s\nwant\n%s", f, got, want)
		}
	}
}

func FuzzIndentJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":[1,2,{"b":"c\"d"}],"e":{}}`, `["\u00e9\u009b\u202e",null,true,-1.5e3]`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var compact bytes.Buffer
		if json.Compact(&compact, b) != nil {
			return
		}
		if got, want := indentJSON(nil, compact.Bytes()), indentReference(t, compact.Bytes()); !bytes.Equal(got, want) {
			t.Errorf("indentJSON(%q) = %q, want %q", compact.Bytes(), got, want)
		}
	})
}

// BenchmarkIndentJSON compares indentJSON with what it replaced,
// json.Indent and a scan for unsafe runes, on the golden reports:
//
//	go test ./cmd/msnaudit -run '^$' -bench IndentJSON -benchmem
func BenchmarkIndentJSON(b *testing.B) {
	files, _ := filepath.Glob("testdata/golden/*.json")
	var all bytes.Buffer
	all.WriteByte('[')
	for i, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			all.WriteByte(',')
		}
		if err := json.Compact(&all, src); err != nil {
			b.Fatal(err)
		}
	}
	all.WriteByte(']')
	src := all.Bytes()
	dst := make([]byte, 0, 2*len(src))
	b.Run("indentJSON", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			dst = indentJSON(dst[:0], src)
		}
	})
	b.Run("json.Indent", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		var out bytes.Buffer
		for b.Loop() {
			out.Reset()
			json.Indent(&out, src, "", "  ")
			_ = bytes.ContainsFunc(out.Bytes(), func(c rune) bool { return c >= utf8.RuneSelf && unsafeRune(c) })
		}
	})
}

package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// indentJSON appends to dst the compact JSON src (as json.Marshal writes it)
// indented as json.Indent(dst, src, "", "  ") would, with the runes that
// unsafeRune names above U+007F written as \uNNNN escapes (Marshal leaves
// them raw; a terminal would act on them). It is the JSON report's last step,
// a single pass: json.Indent's general scanner took three times Marshal's time
// on a large report.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true, ',': true, ':': true}

// indents is a newline and spaces, sliced for each depth.
var indents = []byte("\n" + strings.Repeat(" ", 64))

func indentJSON(dst, src []byte) []byte {
	depth, ind := 0, indents
	newline := func() {
		for len(ind) < 1+2*depth {
			ind = append(ind[:len(ind):len(ind)], ' ', ' ')
		}
		dst = append(dst, ind[:1+2*depth]...)
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case '"':
			start, j := i, i+1
			for j < len(src) && src[j] != '"' {
				switch {
				case src[j] == '\\':
					j += 2
				case src[j] < utf8.RuneSelf:
					j++
					for j < len(src) && src[j] != '"' && src[j] != '\\' && src[j] < utf8.RuneSelf {
						j++
					}
				default:
					r, n := utf8.DecodeRune(src[j:])
					if unsafeRune(r) && !(r == utf8.RuneError && n == 1) {
						dst = append(dst, src[start:j]...)
						dst = fmt.Appendf(dst, `\u%04x`, r)
						start = j + n
					}
					j += n
				}
			}
			j = min(j+1, len(src)) // past the closing quote
			dst = append(dst, src[start:j]...)
			i = j - 1
		case '{', '[':
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				dst = append(dst, c, src[i+1])
				i++
				continue
			}
			dst = append(dst, c)
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default: // a number or literal: copy up to the next structural byte
			j := i + 1
			for j < len(src) && !structural[src[j]] {
				j++
			}
			dst = append(dst, src[i:j]...)
			i = j - 1
		}
	}
	return dst
}

package transport

import (
	"strings"
	"unicode/utf8"
)

// This file reads Structured Field Values for HTTP (RFC 9651, which
// obsoletes RFC 8941) in place: no map, no copy, nothing allocated. Only
// what ParseQuota needs is kept (a bare item's type, its text and an
// Integer's value), but every type is parsed, so that a field is either
// well formed as a whole or ignored as a whole (RFC 9651 §4.2).

// sfKind is the type of a bare item (RFC 9651 §3.3).
type sfKind uint8

const (
	sfNone sfKind = iota // absent: a parameter the field did not carry
	sfInteger
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfBoolean
	sfDate
	sfDisplayString
	sfInnerList // a member that is an Inner List, whose items are skipped
)

// sfItem is a bare item as the field wrote it: raw is its text (a
// String's with its quotes and escapes, which RFC 9651 makes canonical, so
// two Strings are equal when their raw texts are), n an Integer's or a
// Date's value.
type sfItem struct {
	kind sfKind
	raw  string
	n    int64
}

// integer returns the item's value when it is an Integer of at least 0.
func (it sfItem) integer() (int64, bool) {
	return it.n, it.kind == sfInteger && it.n >= 0
}

// sfParse parses v as a List (RFC 9651 §4.2.1) or, with dict, as a
// Dictionary (§4.2.2). It calls member with the index, the key (a List's
// is "") and the value of each member in order, and param, unless nil,
// with the member's index and each of its parameters in order; a repeated
// key is reported each time, so that the last one told wins, as RFC 9651
// has it. It reports whether v is well formed: when it is not, the
// callers forget what they were told.
func sfParse(v string, dict bool, member func(n int, key string, it sfItem), param func(n int, key string, val sfItem)) bool {
	p := sfParser{s: strings.Trim(v, " \t")}
	for n := 0; p.i < len(p.s); n++ {
		var key string
		it, ok := sfItem{kind: sfBoolean, raw: "?1", n: 1}, true
		if dict {
			if key, ok = p.key(); !ok {
				return false
			}
		}
		if !dict || p.eat('=') {
			if p.i < len(p.s) && p.s[p.i] == '(' {
				it, ok = sfItem{kind: sfInnerList}, p.innerList()
			} else {
				it, ok = p.bareItem()
			}
		}
		if !ok {
			return false
		}
		member(n, key, it)
		if !p.params(n, param) {
			return false
		}
		p.skip(" \t")
		if p.i == len(p.s) {
			return true
		}
		if !p.eat(',') {
			return false
		}
		p.skip(" \t")
		if p.i == len(p.s) {
			return false // a trailing comma
		}
	}
	return true // an empty field: an empty List or Dictionary
}

// sfMember is a member of a List, as much of it as sfMembers reads: its
// value and the values of up to three of its parameters.
type sfMember struct {
	name   sfItem
	params [3]sfItem
}

// sfMembers reads into items the first len(items) members of the List v,
// with the parameters named by keys (in their order), and returns how many
// it read: none when v is not a well-formed List, which is to be ignored
// whole. Nothing is allocated.
func sfMembers(v string, keys [3]string, items []sfMember) (n int) {
	if !sfParse(v, false, func(i int, _ string, it sfItem) {
		if i < len(items) {
			items[i], n = sfMember{name: it}, i+1
		}
	}, func(i int, key string, val sfItem) {
		for k := range keys {
			if i < len(items) && key == keys[k] {
				items[i].params[k] = val
			}
		}
	}) {
		return 0
	}
	return n
}

// sfParser is a position in a field value being parsed.
type sfParser struct {
	s string
	i int
}

// eat consumes c if it comes next, and reports whether it did.
func (p *sfParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// skip consumes the bytes of set that come next.
func (p *sfParser) skip(set string) {
	for p.i < len(p.s) && strings.IndexByte(set, p.s[p.i]) >= 0 {
		p.i++
	}
}

// params parses the parameters that come next, telling param (when not
// nil) each of them as the n-th member's.
func (p *sfParser) params(n int, param func(n int, key string, val sfItem)) bool {
	for p.eat(';') {
		p.skip(" ")
		key, ok := p.key()
		val := sfItem{kind: sfBoolean, raw: "?1", n: 1}
		if ok && p.eat('=') {
			val, ok = p.bareItem()
		}
		if !ok {
			return false
		}
		if param != nil {
			param(n, key, val)
		}
	}
	return true
}

// key parses a key: lcalpha or "*", then lcalpha, DIGIT, "_", "-", "."
// or "*".
func (p *sfParser) key() (string, bool) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !(c >= 'a' && c <= 'z' || c == '*' || p.i > start && (c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.')) {
			break
		}
		p.i++
	}
	return p.s[start:p.i], p.i > start
}

// innerList parses an Inner List and its items' parameters, up to its
// closing parenthesis; the list's own parameters are the member's.
func (p *sfParser) innerList() bool {
	p.i++ // '('
	for {
		p.skip(" ")
		if p.eat(')') {
			return true
		}
		if _, ok := p.bareItem(); !ok || !p.params(-1, nil) {
			return false
		}
		if p.i == len(p.s) || p.s[p.i] != ' ' && p.s[p.i] != ')' {
			return false
		}
	}
}

// sfTchar holds the characters of a Token after its first (RFC 9110's
// tchar, ":" and "/"), letters and digits aside.
const sfTchar = "!#$%&'*+-.^_`|~:/"

// bareItem parses the bare item that comes next.
func (p *sfParser) bareItem() (sfItem, bool) {
	if p.i == len(p.s) {
		return sfItem{}, false
	}
	start := p.i
	it, ok := sfItem{}, true
	switch c := p.s[p.i]; {
	case c == '-' || c >= '0' && c <= '9':
		it.kind, it.n, ok = p.number()
	case c == '"':
		it.kind, ok = sfString, p.str()
	case c == '*' || c|0x20 >= 'a' && c|0x20 <= 'z':
		it.kind = sfToken
		for p.i++; p.i < len(p.s); p.i++ {
			c := p.s[p.i]
			if !(c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' || strings.IndexByte(sfTchar, c) >= 0) {
				break
			}
		}
	case c == ':':
		it.kind = sfBytes
		for p.i++; p.i < len(p.s) && p.s[p.i] != ':'; p.i++ {
			c := p.s[p.i]
			if !(c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
				return sfItem{}, false
			}
		}
		ok = p.eat(':')
	case c == '?':
		p.i++
		if it.kind, ok = sfBoolean, p.eat('0') || p.eat('1'); ok {
			it.n = int64(p.s[p.i-1] - '0')
		}
	case c == '@':
		p.i++
		var k sfKind
		k, it.n, ok = p.number()
		it.kind, ok = sfDate, ok && k == sfInteger
	case c == '%':
		p.i++
		it.kind, ok = sfDisplayString, p.eat('"') && p.displayString()
	default:
		return sfItem{}, false
	}
	it.raw = p.s[start:p.i]
	return it, ok
}

// number parses an Integer (at most 15 digits) or a Decimal (at most 12
// digits, a point, and 1 to 3 digits), and returns an Integer's value.
func (p *sfParser) number() (kind sfKind, n int64, ok bool) {
	neg := p.eat('-')
	if p.i == len(p.s) || p.s[p.i] < '0' || p.s[p.i] > '9' {
		return sfNone, 0, false
	}
	kind, start, point := sfInteger, p.i, 0
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c >= '0' && c <= '9':
			if kind == sfInteger {
				n = n*10 + int64(c-'0')
			}
		case c == '.' && kind == sfInteger && p.i-start <= 12:
			kind, point = sfDecimal, p.i
		default:
			return p.numberEnd(kind, n, neg, point)
		}
		if digits := p.i + 1 - start; kind == sfInteger && digits > 15 || digits > 16 {
			return sfNone, 0, false
		}
	}
	return p.numberEnd(kind, n, neg, point)
}

// numberEnd checks a Decimal's fraction, and signs an Integer.
func (p *sfParser) numberEnd(kind sfKind, n int64, neg bool, point int) (sfKind, int64, bool) {
	if kind == sfDecimal && (p.i-point < 2 || p.i-point > 4) {
		return sfNone, 0, false
	}
	if neg {
		n = -n
	}
	return kind, n, true
}

// str parses a String: printable ASCII, '"' and '\' escaped by '\'.
func (p *sfParser) str() bool {
	for p.i++; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '\\':
			p.i++
			if p.i == len(p.s) || p.s[p.i] != '"' && p.s[p.i] != '\\' {
				return false
			}
		case c == '"':
			p.i++
			return true
		case c < 0x20 || c > 0x7e:
			return false
		}
	}
	return false
}

// displayString parses the rest of a Display String, after its opening
// quote: printable ASCII, '%' and '"' percent-encoded in lower-case hex,
// the bytes encoded making valid UTF-8.
func (p *sfParser) displayString() bool {
	var buf [utf8.UTFMax]byte
	n := 0
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return n == 0
		case c < 0x20 || c > 0x7e:
			return false
		case c == '%':
			hi, okH := lowerHex(p.s, p.i+1)
			lo, okL := lowerHex(p.s, p.i+2)
			if !okH || !okL {
				return false
			}
			c = hi<<4 | lo
			p.i += 2
		}
		buf[n] = c
		n++
		if utf8.FullRune(buf[:n]) {
			if r, size := utf8.DecodeRune(buf[:n]); r == utf8.RuneError && size < 2 {
				return false
			}
			n = 0
		}
	}
	return false
}

// lowerHex returns the value of the lower-case hex digit s[i].
func lowerHex(s string, i int) (byte, bool) {
	switch {
	case i >= len(s):
		return 0, false
	case s[i] >= '0' && s[i] <= '9':
		return s[i] - '0', true
	case s[i] >= 'a' && s[i] <= 'f':
		return s[i] - 'a' + 10, true
	}
	return 0, false
}

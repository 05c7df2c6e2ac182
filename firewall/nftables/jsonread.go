package nftables

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// A small reader over JSON the streaming decoder has already checked: it splits objects
// into members and arrays into elements without reflection, and hands values on as raw
// sub-slices. Every index is bounds-checked, so malformed input gives "not an object"
// (or similar) rather than a panic.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// valueEnd returns the index just past the value starting at b[i], or -1.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = stringEnd(b, i)
				if i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\n', '\r', '\t':
			if i == start {
				return -1
			}
			return i
		}
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// stringEnd returns the index just past the string starting at b[i] (a quote), or -1.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// eachMember calls fn for every member of the object in b; false when b is not an object.
func eachMember(b []byte, fn func(key string, val []byte)) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for i < len(b) {
		if b[i] != '"' {
			return false
		}
		ke := stringEnd(b, i)
		if ke < 0 {
			return false
		}
		key, ok := jsonString(b[i:ke])
		if !ok {
			return false
		}
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		ve := valueEnd(b, i)
		if ve < 0 {
			return false
		}
		fn(key, b[i:ve])
		i = skipSpace(b, ve)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case '}':
			return true
		case ',':
			i = skipSpace(b, i+1)
		default:
			return false
		}
	}
	return false
}

// eachElem calls fn for every element of the array in b; false when b is not an array.
func eachElem(b []byte, fn func(val []byte)) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return true
	}
	for i < len(b) {
		ve := valueEnd(b, i)
		if ve < 0 {
			return false
		}
		fn(b[i:ve])
		i = skipSpace(b, ve)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ']':
			return true
		case ',':
			i = skipSpace(b, i+1)
		default:
			return false
		}
	}
	return false
}

// arrayElems returns the elements of an array; ok false when b is not one.
func arrayElems(b []byte) ([]json.RawMessage, bool) {
	var out []json.RawMessage
	ok := eachElem(b, func(v []byte) { out = append(out, v) })
	return out, ok
}

// jsonString reads a JSON string.
func jsonString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	inner := b[1 : len(b)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c == '"' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonInt reads an integer.
func jsonInt(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	n, neg := 0, b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// toAny converts JSON to plain Go values (string, json.Number, bool, nil, []any,
// map[string]any), like a json.Decoder with UseNumber.
func toAny(b []byte) (any, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) {
		return nil, false
	}
	b = b[i:]
	switch c := b[0]; {
	case c == '"':
		return jsonString(trimSpaceRight(b))
	case c == '{':
		m := map[string]any{}
		ok := true
		if !eachMember(b, func(k string, v []byte) {
			x, good := toAny(v)
			ok = ok && good
			m[k] = x
		}) || !ok {
			return nil, false
		}
		return m, true
	case c == '[':
		l := []any{}
		ok := true
		if !eachElem(b, func(v []byte) {
			x, good := toAny(v)
			ok = ok && good
			l = append(l, x)
		}) || !ok {
			return nil, false
		}
		return l, true
	}
	s := string(trimSpaceRight(b))
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	case "null":
		return nil, true
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return nil, false
	}
	return json.Number(s), true
}

func trimSpaceRight(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

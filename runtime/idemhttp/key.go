package idemhttp

import (
	"errors"
	"strings"
)

// MaxKeyLength is the longest key the middleware accepts, in characters
// (after removing structured-field quoting).
const MaxKeyLength = 255

// FormatKey writes key as a header value in the given format. An SFString
// escapes backslashes and double quotes as RFC 8941 requires.
func FormatKey(key string, f KeyFormat) string {
	if f != SFString {
		return key
	}
	var b strings.Builder
	b.Grow(len(key) + 2)
	b.WriteByte('"')
	for i := 0; i < len(key); i++ {
		if c := key[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(key[i])
	}
	b.WriteByte('"')
	return b.String()
}

// ParseKey reads a key header value, raw or as an RFC 8941 string: 1 to
// MaxKeyLength printable ASCII characters (space to tilde; a raw key has
// no leading or trailing space and no double quote). Errors say what is
// wrong, for a 400 response.
func ParseKey(v string) (string, error) {
	if v == "" {
		return "", errors.New("the key is empty")
	}
	var key string
	if v[0] == '"' {
		var b strings.Builder
		i := 1
		for ; i < len(v); i++ {
			c := v[i]
			if c == '\\' {
				i++
				if i == len(v) || (v[i] != '"' && v[i] != '\\') {
					return "", errors.New(`the key is a structured-field string with an escape other than \" or \\`)
				}
				b.WriteByte(v[i])
				continue
			}
			if c == '"' {
				break
			}
			if c < 0x20 || c > 0x7e {
				return "", errors.New("the key has a character that is not printable ASCII")
			}
			b.WriteByte(c)
		}
		if i != len(v)-1 {
			return "", errors.New("the key is a structured-field string that is not closed, or has text after its closing quote")
		}
		key = b.String()
		if key == "" {
			return "", errors.New("the key is empty")
		}
	} else {
		if strings.TrimSpace(v) != v {
			return "", errors.New("the key has leading or trailing spaces")
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < 0x20 || c > 0x7e || c == '"' {
				return "", errors.New("the key has a character that is not printable ASCII, or a double quote outside structured-field quoting")
			}
		}
		key = v
	}
	if len(key) > MaxKeyLength {
		return "", errors.New("the key is longer than 255 characters")
	}
	return key, nil
}

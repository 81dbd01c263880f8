package redisstore

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/idem-go/idem/runtime/store"
)

// The record layout (see the package doc). The offsets are 0-based here and
// 1-based in lua/prelude.lua, which must agree.
const (
	magic = "idem1 " // the layout's name and version; every value starts with it

	offState    = 6   // one character: '0' tombstone, '1', '2', '3' the store.State
	offRetain   = 11  // after " rs="
	offToken    = 42  // after " tk="
	offOwner    = 62  // after " ow="
	offLease    = 98  // after " ls="
	offCreated  = 129 // after " cs="
	offUpdated  = 160 // after " us="
	offAttempts = 191 // after " at="
	offFP       = 205 // after " fp="
	offNSLen    = 273 // after " ns="
	offNS       = 284 // after ':'

	tombLen    = offToken + tokenDigits // a tombstone ends after its token
	fenceLen   = offLease - len(" ls=") - offToken
	timeLen    = 27 // sign, 16 digits of seconds, '.', 9 digits of nanoseconds
	secDigits  = 16
	nsecDigits = 9

	tokenDigits    = 16
	attemptsDigits = 10
	nsLenDigits    = 10

	resultMark = " res=" // follows the namespace when the record has a result

	// partsMark separates the namespace from the fingerprint's parts
	// (store.Record.FingerprintParts, in hex) inside the namespace field:
	// the field's length covers both, so that every script (today's and
	// earlier ones, which keep the field whole through every write) and
	// an earlier binary's parser read such a record unchanged (an earlier
	// binary shows the parts as part of the namespace). The last mark in
	// the field is the one: a namespace that contains the mark itself is
	// always written with a mark after it (and no hex digits for no
	// parts), so that no record this binary writes is ambiguous.
	partsMark = "\x00fpp:"

	stateTombstone = '0'
)

// maxExactSeconds bounds the Unix seconds the scripts compare exactly as
// Lua numbers (IEEE doubles); it has secDigits digits.
const maxExactSeconds = 1<<53 - 1

// labels is the text before the field at each offset, checked on parse so
// that a value shifted by a bad write is reported rather than misread.
var labels = [...]struct {
	off  int
	text string
}{
	{offRetain, " rs="}, {offToken, " tk="}, {offOwner, " ow="}, {offLease, " ls="},
	{offCreated, " cs="}, {offUpdated, " us="}, {offAttempts, " at="}, {offFP, " fp="},
	{offNSLen, " ns="}, {offNS, ":"},
}

// appendTime appends t in the layout's 27 characters. t must have passed
// store.CheckTime, whose range lies well within maxExactSeconds.
func appendTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec < 0 {
		b = append(b, '-')
		sec = -sec
	} else {
		b = append(b, '+')
	}
	b = appendDigits(b, uint64(sec), secDigits)
	b = append(b, '.')
	return appendDigits(b, uint64(t.Nanosecond()), nsecDigits)
}

// appendDigits appends n in decimal, zero-padded to width digits (more when
// n needs more).
func appendDigits(b []byte, n uint64, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for n >= 100 {
		q := n / 100
		r := n - q*100
		i -= 2
		buf[i], buf[i+1] = twoDigits[2*r], twoDigits[2*r+1]
		n = q
	}
	if n >= 10 {
		i -= 2
		buf[i], buf[i+1] = twoDigits[2*n], twoDigits[2*n+1]
	} else {
		i--
		buf[i] = byte('0' + n)
	}
	for len(buf)-i < width {
		i--
		buf[i] = '0'
	}
	return append(b, buf[i:]...)
}

const twoDigits = "00010203040506070809" + "10111213141516171819" + "20212223242526272829" +
	"30313233343536373839" + "40414243444546474849" + "50515253545556575859" +
	"60616263646566676869" + "70717273747576777879" + "80818283848586878889" + "90919293949596979899"

// appendHex appends src in lowercase hexadecimal.
func appendHex(b []byte, src []byte) []byte {
	for _, c := range src {
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendFence appends the fence as the layout holds it: the token, " ow="
// and the owner, the characters from offToken to the end of the owner. A
// token the layout cannot hold yields a fence that matches no record.
func appendFence(b []byte, f store.Fence) []byte {
	if f.Token < 0 {
		b = append(b, '-')
		b = appendDigits(b, uint64(-f.Token), tokenDigits)
	} else {
		b = appendDigits(b, uint64(f.Token), tokenDigits)
	}
	b = append(b, " ow="...)
	return appendHex(b, f.Owner[:])
}

// appendGrant appends the record a fresh grant of req writes: in progress,
// token 1, one attempt, created and updated at req.Now, no result. The
// times must have passed store.CheckTime.
func appendGrant(b []byte, req *store.ClaimRequest) []byte {
	b = append(b, magic...)
	b = append(b, '0'+byte(store.StateInProgress))
	b = append(b, " rs="...)
	b = appendTime(b, req.RetainUntil)
	b = append(b, " tk="...)
	b = appendFence(b, store.Fence{Owner: req.Owner, Token: 1})
	b = append(b, " ls="...)
	b = appendTime(b, req.LeaseUntil)
	b = append(b, " cs="...)
	now := len(b)
	b = appendTime(b, req.Now)
	b = append(b, " us="...)
	b = append(b, b[now:now+timeLen]...) // the same Now
	b = append(b, " at="...)
	b = appendDigits(b, 1, attemptsDigits)
	b = append(b, " fp="...)
	b = appendHex(b, req.Fingerprint[:])
	b = append(b, " ns="...)
	n := len(req.Namespace)
	mark := len(req.FingerprintParts) > 0 || strings.Contains(req.Namespace, partsMark)
	if mark {
		n += len(partsMark) + 2*len(req.FingerprintParts)
	}
	b = appendDigits(b, uint64(n), nsLenDigits)
	b = append(b, ':')
	b = append(b, req.Namespace...)
	if mark {
		b = append(b, partsMark...)
		b = appendHex(b, req.FingerprintParts)
	}
	return b
}

// grantLen is the length of the record appendGrant writes for req.
func grantLen(req *store.ClaimRequest) int {
	return offNS + len(req.Namespace) + len(partsMark) + 2*len(req.FingerprintParts)
}

// grantRecord is the record appendGrant writes, with token, as a read of it
// would return it.
func grantRecord(req *store.ClaimRequest, token int64) store.Record {
	now := exact(req.Now)
	return store.Record{
		Key:         req.Key,
		Namespace:   req.Namespace,
		Fingerprint: req.Fingerprint,
		State:       store.StateInProgress,
		Owner:       req.Owner,
		Token:       token,
		LeaseUntil:  exact(req.LeaseUntil),
		RetainUntil: exact(req.RetainUntil),
		Attempts:    1,
		CreatedAt:   now,
		UpdatedAt:   now,

		FingerprintParts: req.FingerprintParts,
	}
}

// exact returns t as it reads back from the layout: UTC, no monotonic
// reading.
func exact(t time.Time) time.Time { return time.Unix(t.Unix(), int64(t.Nanosecond())).UTC() }

// errCorrupt prefixes the description of a value that is not a record.
var errCorrupt = errors.New("corrupt record (not in the idem1 layout; delete the key, or check that no other program writes under the store's prefix)")

// parseRecord decodes value v of key. found is false for a tombstone.
func parseRecord(key store.Key, v string) (rec store.Record, found bool, err error) {
	p := parser{v: v}
	if len(v) < tombLen || v[:len(magic)] != magic {
		return rec, false, p.fail("%d bytes starting %q", len(v), v[:min(len(v), len(magic))])
	}
	if v[offState] == stateTombstone {
		return rec, false, nil
	}
	if len(v) < offNS {
		return rec, false, p.fail("%d bytes, want at least %d", len(v), offNS)
	}
	for _, l := range labels {
		if v[l.off-len(l.text):l.off] != l.text {
			return rec, false, p.fail("no %q before byte %d", l.text, l.off)
		}
	}
	switch s := store.State(v[offState] - '0'); s {
	case store.StateInProgress, store.StateCompleted, store.StateIndeterminate:
		rec.State = s
	default:
		return rec, false, p.fail("state %q", v[offState])
	}
	rec.Key = key
	rec.RetainUntil = p.time(offRetain)
	rec.Token = int64(p.digits(offToken, tokenDigits))
	p.hex(rec.Owner[:], offOwner)
	rec.LeaseUntil = p.time(offLease)
	rec.CreatedAt = p.time(offCreated)
	rec.UpdatedAt = p.time(offUpdated)
	rec.Attempts = int(p.digits(offAttempts, attemptsDigits))
	p.hex(rec.Fingerprint[:], offFP)
	n := p.digits(offNSLen, nsLenDigits)
	if p.err != nil {
		return store.Record{}, false, p.err
	}
	if n > uint64(len(v)-offNS) {
		return rec, false, p.fail("namespace of %d bytes in %d", n, len(v)-offNS)
	}
	end := offNS + int(n)
	rec.Namespace = v[offNS:end]
	if i := strings.LastIndex(rec.Namespace, partsMark); i >= 0 && isPartsHex(rec.Namespace[i+len(partsMark):]) {
		hex := rec.Namespace[i+len(partsMark):]
		rec.Namespace = rec.Namespace[:i]
		if hex != "" {
			rec.FingerprintParts = make([]byte, len(hex)/2)
			p.hex(rec.FingerprintParts, offNS+i+len(partsMark))
		}
	}
	switch rest := v[end:]; {
	case rest == "":
	case len(rest) >= len(resultMark) && rest[:len(resultMark)] == resultMark:
		rec.Result = []byte(rest[len(resultMark):])
	default:
		return store.Record{}, false, p.fail("%q after the namespace", rest[:min(len(rest), len(resultMark))])
	}
	return rec, true, nil
}

// isPartsHex reports whether s is the hex of fingerprint parts: lowercase
// hex digits, an even number of them.
func isPartsHex(s string) bool {
	if len(s)%2 != 0 {
		return false
	}
	for i := range len(s) {
		if unhex(s[i]) > 0xf {
			return false
		}
	}
	return true
}

// parser reads fields of a value, keeping the first error.
type parser struct {
	v   string
	err error
}

func (p *parser) fail(format string, args ...any) error {
	if p.err == nil {
		p.err = fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, args...))
	}
	return p.err
}

// digits reads n decimal digits at off.
func (p *parser) digits(off, n int) uint64 {
	var x uint64
	for i := off; i < off+n; i++ {
		c := p.v[i]
		if c < '0' || c > '9' {
			p.fail("byte %d is %q, want a digit", i, c)
			return 0
		}
		x = x*10 + uint64(c-'0')
	}
	return x
}

// time reads a layout time at off.
func (p *parser) time(off int) time.Time {
	sign := p.v[off]
	sec := int64(p.digits(off+1, secDigits))
	if dot := p.v[off+1+secDigits]; dot != '.' {
		p.fail("byte %d is %q, want '.'", off+1+secDigits, dot)
	}
	nsec := int64(p.digits(off+2+secDigits, nsecDigits))
	switch sign {
	case '+':
	case '-':
		sec = -sec
	default:
		p.fail("byte %d is %q, want a sign", off, sign)
	}
	return time.Unix(sec, nsec).UTC()
}

// hex decodes len(dst) bytes of lowercase hexadecimal at off.
func (p *parser) hex(dst []byte, off int) {
	for i := range dst {
		hi, lo := unhex(p.v[off+2*i]), unhex(p.v[off+2*i+1])
		if hi > 0xf || lo > 0xf {
			p.fail("bytes %d-%d are %q, want hexadecimal", off+2*i, off+2*i+1, p.v[off+2*i:off+2*i+2])
			return
		}
		dst[i] = hi<<4 | lo
	}
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 0xff
}

// formatTime is appendTime as a string, for script arguments.
func formatTime(t time.Time) string { return string(appendTime(make([]byte, 0, timeLen), t)) }

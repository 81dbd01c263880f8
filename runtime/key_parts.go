package runtime

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/dchest/siphash"
)

// Per-part digests of a fingerprint: the bytes the runtime hands a store
// as store.ClaimRequest.FingerprintParts and reads back from
// store.Record.FingerprintParts, so that ErrKeyReused can name the
// arguments whose values differ from the recorded call's. They are
// diagnostics, not keys: a few bytes per part, salted with the record's
// key so that the digests of a low-entropy value (an amount, a flag)
// differ from record to record, and keyed with the key secret when one is
// set ([SetKeySecret]), so that a reader of the store without the secret
// cannot test guesses against them.
//
// Format, version 1 (partsFormatV1), defined here and nowhere else (stores
// keep the bytes opaque):
//
//	0x01
//	fingerprint[:4]                   of the record the parts describe
//	for each value written to the fingerprint Encoder after Begin, in order:
//	    digest                        of the value's encoding
//	    uvarint(m)                    m = n+1 for a struct value (behind any
//	                                  pointers) of n fields, 0 for any other
//	                                  value (and a struct of more than
//	                                  maxPartFields fields)
//	    n × (uvarint(len(name)) name  the field's Go name
//	         digest)                  of the field's encoding (name and value)
//
//	digest = SipHash-2-4(salt, encoding), its low partDigestLen bytes, big-endian
//	salt   = SipHash-2-4-128(base, the record's key)
//	base   = partsBase (a constant), or, under a key secret, the first
//	         16 bytes of HMAC-SHA256(secret, "idem:parts")
//
// SipHash is a keyed pseudo-random function made for short inputs: a
// digest costs tens of nanoseconds (the parts are computed for every
// claim, replays included), and without the secret nobody can test a
// guessed value against a digest made under it.
//
// The fingerprint's first bytes tie the parts to the record: a binary
// that does not know the parts (yesterday's, after a rollback) may
// re-grant a row and leave the previous grant's parts in it; parts whose
// fingerprint is not the record's are ignored.
//
// Fields whose value is zero are not in the encoding (see [Encoder]), so
// a field listed on one side only was zero on the other.
const (
	partsFormatV1 = 0x01
	partDigestLen = 4
	partsFPLen    = 4 // bytes of the fingerprint that open the parts
	// maxPartsEncoding bounds the fingerprint encodings the Encoder keeps
	// for per-part digests once they outgrow its inline buffer; a longer
	// fingerprint has none.
	maxPartsEncoding = 64 << 10
	// maxPartFields bounds the fields listed for one struct part; a
	// struct with more has its whole digest only.
	maxPartFields = 64
)

// keep records the bytes handed to the streaming hash, for per-part
// digests, while the encoding is not longer than maxPartsEncoding.
func (sp *encSpill) keep(b []byte) {
	if sp.keptOver {
		return
	}
	if len(sp.kept)+len(b) > maxPartsEncoding {
		sp.kept, sp.keptOver = sp.kept[:0], true
		return
	}
	sp.kept = append(sp.kept, b...)
}

// appendParts appends the per-part digests of the encoding written since
// Begin, salted for the record of key, to dst. It appends nothing when
// the encoding is incomplete, failed, or too long to have been kept.
func (e *Encoder) appendParts(dst []byte, key Key, fp Fingerprint) []byte {
	if e.err != nil || e.nf != 0 || e.pend != pendNone {
		return dst
	}
	enc := e.buf[:e.n]
	if sp := e.sp; sp != nil && sp.streaming {
		if sp.keptOver || len(sp.kept)+e.n > maxPartsEncoding {
			return dst
		}
		kept := sp.kept
		all := append(kept, e.buf[:e.n]...) // scratch past len(kept)
		sp.kept = all[:len(kept)]
		enc = all
	}
	body, ok := skipKeyPrefix(enc)
	if !ok {
		return dst
	}
	salt := partsSaltOf(key)
	start := len(dst)
	dst = append(dst, partsFormatV1)
	dst = append(dst, fp[:partsFPLen]...)
	for len(body) > 0 {
		n, ok := skipKeyValue(body, 0)
		if !ok {
			return dst[:start]
		}
		part := body[:n]
		body = body[n:]
		dst = appendPartDigest(dst, &salt, part)
		dst = appendFieldDigests(dst, &salt, part)
	}
	return dst
}

// appendFieldDigests appends the field list of a part: its fields when it
// is a struct (behind any pointers) of at most maxPartFields fields, none
// otherwise.
func appendFieldDigests(dst []byte, salt *partsSalt, part []byte) []byte {
	i := 0
	for i < len(part) && part[i] == keyTagPointer {
		i++
	}
	if i == len(part) || part[i] != keyTagStruct {
		return append(dst, 0)
	}
	i++
	// Offsets, not subslices of part: the encoding may be the Encoder's
	// own buffer, which must not escape.
	type field struct{ name, val, end int }
	var buf [maxPartFields]field
	n := 0
	for i < len(part) && part[i] != keyZero {
		l, k := binary.Uvarint(part[i:])
		if k <= 0 || uint64(len(part)-i-k) < l {
			return append(dst, 0)
		}
		end, ok := skipKeyValue(part, i+k+int(l))
		if !ok || n == maxPartFields {
			return append(dst, 0)
		}
		buf[n] = field{name: i, val: i + k + int(l), end: end}
		n++
		i = end
	}
	dst = binary.AppendUvarint(dst, uint64(n)+1)
	for _, f := range buf[:n] {
		dst = append(dst, part[f.name:f.val]...) // uvarint(len(name)) name
		dst = appendPartDigest(dst, salt, part[f.name:f.end])
	}
	return dst
}

// appendPartDigest appends the digest of one part's encoding.
func appendPartDigest(dst []byte, salt *partsSalt, enc []byte) []byte {
	h := siphash.Hash(salt.k0, salt.k1, enc)
	return binary.BigEndian.AppendUint32(dst, uint32(h))
}

// partsSalt is the SipHash key of the per-part digests of one record.
type partsSalt struct{ k0, k1 uint64 }

// partsBase is the SipHash key from which the salts derive without a key
// secret: the first 16 bytes of SHA-256("idem:parts") as two little-endian
// words, fixed forever (the digests of records in flight depend on it).
var partsBase = partsSalt{0xc7a005d0aa6a7f39, 0xb5ed1499a7301c7e}

// partsSaltOf derives the salt of the record of key from the base in force
// (see key_secret.go).
func partsSaltOf(key Key) partsSalt {
	base := partsBase
	if m := currentKeyMAC(); m != nil {
		base = m.parts
	}
	k0, k1 := siphash.Hash128(base.k0, base.k1, key[:])
	return partsSalt{k0, k1}
}

// skipKeyPrefix returns the encoding after the prefix Begin writes.
func skipKeyPrefix(enc []byte) ([]byte, bool) {
	if len(enc) < len(keyPrefix) || string(enc[:len(keyPrefix)]) != keyPrefix {
		return nil, false
	}
	enc = enc[len(keyPrefix):]
	i := 0
	for i < len(enc) && enc[i] != ':' {
		i++
	}
	if i == len(enc) {
		return nil, false
	}
	enc = enc[i+1:]
	l, k := binary.Uvarint(enc)
	if k <= 0 || uint64(len(enc)-k) <= l || enc[k+int(l)] != ':' {
		return nil, false
	}
	return enc[k+int(l)+1:], true
}

// skipKeyValue returns the end of the value encoded at b[i:].
func skipKeyValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	tag := b[i]
	i++
	fixed := func(n int) (int, bool) { return i + n, i+n <= len(b) }
	count := func() (uint64, bool) {
		n, k := binary.Uvarint(b[i:])
		if k <= 0 {
			return 0, false
		}
		i += k
		return n, true
	}
	switch tag {
	case keyTagNil:
		return i, true
	case keyTagPointer:
		return skipKeyValue(b, i)
	case keyTagBool, keyTagInt8, keyTagUint8:
		return fixed(1)
	case keyTagInt16, keyTagUint16:
		return fixed(2)
	case keyTagInt32, keyTagUint32, keyTagFloat32:
		return fixed(4)
	case keyTagInt, keyTagInt64, keyTagUint, keyTagUint64, keyTagUintptr, keyTagFloat64, keyTagComplex64:
		return fixed(8)
	case keyTagComplex128:
		return fixed(16)
	case keyTagTime:
		return fixed(12)
	case keyTagString, keyTagBytes:
		n, ok := count()
		if !ok || uint64(len(b)-i) < n {
			return 0, false
		}
		return i + int(n), true
	case keyTagList, keyTagMap, keyTagArray:
		n, ok := count()
		if !ok {
			return 0, false
		}
		if tag == keyTagMap {
			n *= 2
		}
		for ; n > 0; n-- {
			if n > uint64(len(b)-i) { // every value takes a byte at least
				return 0, false
			}
			if tag == keyTagArray && b[i] == keyZero {
				i++
				continue
			}
			if i, ok = skipKeyValue(b, i); !ok {
				return 0, false
			}
		}
		return i, true
	case keyTagStruct:
		for i < len(b) && b[i] != keyZero {
			l, ok := count()
			if !ok || uint64(len(b)-i) < l {
				return 0, false
			}
			if i, ok = skipKeyValue(b, i+int(l)); !ok {
				return 0, false
			}
		}
		return i + 1, i < len(b)
	}
	return 0, false
}

// partDigests is one part of decoded per-part digests.
type partDigests struct {
	digest   [partDigestLen]byte
	isStruct bool // fields lists every field of the struct part
	fields   []fieldDigest
}

type fieldDigest struct {
	name   string
	digest [partDigestLen]byte
}

// decodeParts decodes per-part digests; it reports false for bytes of
// another format version or malformed ones.
func decodeParts(b []byte, fp Fingerprint) ([]partDigests, bool) {
	if len(b) < 1+partsFPLen || b[0] != partsFormatV1 || string(b[1:1+partsFPLen]) != string(fp[:partsFPLen]) {
		return nil, false
	}
	b = b[1+partsFPLen:]
	var parts []partDigests
	digest := func() (d [partDigestLen]byte, ok bool) {
		if len(b) < partDigestLen {
			return d, false
		}
		copy(d[:], b)
		b = b[partDigestLen:]
		return d, true
	}
	uvarint := func() (uint64, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, false
		}
		b = b[k:]
		return n, true
	}
	for len(b) > 0 {
		var p partDigests
		var ok bool
		if p.digest, ok = digest(); !ok {
			return nil, false
		}
		n, ok := uvarint()
		if !ok || n > uint64(len(b))+1 {
			return nil, false
		}
		if n > 0 {
			p.isStruct = true
			n--
		}
		for ; n > 0; n-- {
			l, ok := uvarint()
			if !ok || l > uint64(len(b)) {
				return nil, false
			}
			f := fieldDigest{name: string(b[:l])}
			b = b[l:]
			if f.digest, ok = digest(); !ok {
				return nil, false
			}
			p.fields = append(p.fields, f)
		}
		parts = append(parts, p)
	}
	return parts, true
}

// partsDiffer names the parts of the fingerprint whose digests differ
// between a record's parts and a call's, using names (Spec.Fingerprint:
// "ev, amount") for the top-level parts and "name.Field" for the fields of
// a struct part. It returns a clause for the ErrKeyReused message: the
// names, or why they cannot be told.
func partsDiffer(names string, recFP Fingerprint, recorded []byte, curFP Fingerprint, current []byte) string {
	const unknown = "which of them differ cannot be told: "
	if len(recorded) == 0 {
		return unknown + "the store kept no per-part digests for the recorded call (it was recorded by an older idem, or the store's table lacks the fingerprint_parts column; see the store's documentation)"
	}
	rec, ok := decodeParts(recorded, recFP)
	if !ok {
		return unknown + "the record's per-part digests are in a format this version of idem does not read, or belong to an earlier record of the key"
	}
	cur, ok := decodeParts(current, curFP)
	if !ok {
		return unknown + "this call's fingerprint is too long for per-part digests"
	}
	if len(rec) != len(cur) {
		return unknown + "the recorded call's fingerprint has " + strconv.Itoa(len(rec)) + " parts and this call's " + strconv.Itoa(len(cur)) + " (the fingerprinted parameters changed)"
	}
	var label []string
	if names != "" {
		label = strings.Split(names, ", ")
	}
	var differ []string
	for i := range cur {
		r, c := rec[i], cur[i]
		if r.digest == c.digest {
			continue
		}
		name := "part " + strconv.Itoa(i+1)
		if len(label) == len(cur) {
			name = label[i]
		}
		var fields []string
		if r.isStruct && c.isStruct {
			fields = fieldsDiffer(r.fields, c.fields)
		}
		if len(fields) == 0 {
			differ = append(differ, name)
			continue
		}
		for _, f := range fields {
			differ = append(differ, name+"."+f)
		}
	}
	if len(differ) == 0 {
		return unknown + "the per-part digests are all equal"
	}
	return "values that differ from the recorded call: " + strings.Join(differ, ", ")
}

// fieldsDiffer names the fields listed on one side only (zero on the
// other) or with other digests, in name order. Both lists are sorted by
// name, as the encoding writes them.
func fieldsDiffer(rec, cur []fieldDigest) []string {
	var differ []string
	i, j := 0, 0
	for i < len(rec) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(rec) && rec[i].name < cur[j].name):
			differ = append(differ, rec[i].name)
			i++
		case i == len(rec) || cur[j].name < rec[i].name:
			differ = append(differ, cur[j].name)
			j++
		default:
			if rec[i].digest != cur[j].digest {
				differ = append(differ, cur[j].name)
			}
			i++
			j++
		}
	}
	return differ
}

package runtime

// KeyString returns the key of the encoding written since Begin, as Sum
// derives it (under the key secret, without a scope), in the form
// [KeyFrom] returns and stores show: 64 lowercase hexadecimal characters.
// It returns "" when the encoding failed (Sum's error: a NaN, a nil
// pointer on a key path, a value too deep or a failed marshal), for which
// a wrapped call fails with [ErrInvalidKey] instead of deriving a key.
//
// Generated key helpers (<Wrapper>Key) call it, so that an operator or a
// test goes from arguments to the key of their record with the same
// encoding the wrapper uses.
func (e *Encoder) KeyString() string {
	k, err := e.Sum()
	if err != nil {
		return ""
	}
	return k.String()
}

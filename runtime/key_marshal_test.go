package runtime

import (
	"errors"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
)

type failingText struct{}

var errNoText = errors.New("no text")

func (failingText) MarshalText() ([]byte, error) { return nil, errNoText }

func TestTextEncodesMarshaledText(t *testing.T) {
	sum := func(write func(e *Encoder)) Key {
		var e Encoder
		e.Begin("ns", 1)
		write(&e)
		k, err := e.Sum()
		require.NoError(t, err)
		return k
	}
	a, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	b, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	c := big.NewInt(7)
	require.Equal(t, sum(func(e *Encoder) { e.Text(a) }), sum(func(e *Encoder) { e.Text(b) }), "equal numbers, equal keys")
	require.NotEqual(t, sum(func(e *Encoder) { e.Text(a) }), sum(func(e *Encoder) { e.Text(c) }))
	require.Equal(t, sum(func(e *Encoder) { e.Text(c) }), sum(func(e *Encoder) { e.Bytes([]byte("7")) }), "Text is Bytes of the text")
	r := big.NewRat(1, 3)
	require.Equal(t, sum(func(e *Encoder) { e.Text(r) }), sum(func(e *Encoder) { e.Bytes([]byte("1/3")) }))

	var e Encoder
	e.Begin("ns", 1)
	e.Text(failingText{})
	_, err := e.Sum()
	require.ErrorIs(t, err, errNoText)
	require.Equal(t, "", e.KeyString(), "no key when the encoding failed")
}

func TestKeyStringIsSumInHex(t *testing.T) {
	var e Encoder
	e.Begin("ns", 1)
	e.String("order-1")
	k, err := e.Sum()
	require.NoError(t, err)
	require.Equal(t, k.String(), e.KeyString())
	require.Len(t, e.KeyString(), 64)
}

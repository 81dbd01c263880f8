package defaults_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/annotations"
	"github.com/idem-go/idem/internal/defaults"
	"github.com/idem-go/idem/runtime"
)

// TestEffectNamesAgree checks that the parser, the runtime and the shared
// table spell and number every effect alike.
func TestEffectNamesAgree(t *testing.T) {
	names := defaults.EffectNames()
	require.Equal(t, []string{"none", "api", "queue", "db", "composite"}, names)
	for _, name := range names {
		v, ok := defaults.EffectByName(name)
		require.True(t, ok, name)
		got, ok := defaults.EffectName(v)
		require.True(t, ok)
		require.Equal(t, name, got)
		require.Equal(t, name, annotations.Effect(v).String())
		require.Equal(t, name, runtime.Effect(v).String())
	}
	_, ok := defaults.EffectByName("http")
	require.False(t, ok)
	_, ok = defaults.EffectName(uint8(len(names)))
	require.False(t, ok)
	require.Equal(t, "unknown", annotations.Effect(len(names)).String())
	require.Equal(t, uint8(runtime.EffectDB), uint8(annotations.EffectDB))
	require.Equal(t, uint8(runtime.EffectAPI), uint8(annotations.EffectAPI))
}

// TestDefaultsShared checks that the runtime applies the defaults the
// generator documents.
func TestDefaultsShared(t *testing.T) {
	require.Equal(t, annotations.DefaultTTL, runtime.DefaultTTL)
	require.Equal(t, annotations.DefaultLease, runtime.DefaultLease)
	require.Equal(t, annotations.DefaultRetryDelay, runtime.DefaultRetryDelay)
	require.Equal(t, annotations.DefaultRetryMaxDelay, runtime.DefaultRetryMaxDelay)
	require.Less(t, annotations.DefaultLease, annotations.DefaultTTL, "the default TTL must not be shorter than the default lease")
}

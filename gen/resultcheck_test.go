package gen

import (
	"go/types"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/tools/go/packages"
)

// TestResultProblemMessages pins the verdict and the message of the static
// result check on each kind of case (TestResultCheckAgreesWithRuntime
// checks that the runtime agrees on the verdicts).
func TestResultProblemMessages(t *testing.T) {
	pkgs, err := packages.Load(&packages.Config{Mode: loadMode}, "github.com/idem-go/idem/gen/internal/resultcases")
	require.NoError(t, err)
	scope := pkgs[0].Types.Scope()
	q := types.RelativeTo(pkgs[0].Types)
	for name, want := range map[string]string{
		"Int": "", "Exported": "", "Time": "", "Marshals": "", "ValueMarshal": "", "Floats": "",
		"TextMarshal": "", "CBORDash": "", "NamedBytes": "", "Blank": "", "PtrToMarsh": "", "CBORSelf": "",
		"HalfCBOR":            "type HalfCBOR implements only one of cbor.Marshaler and cbor.Unmarshaler, so its records could not be decoded; implement both on *HalfCBOR",
		"Unexported":          "type Unexported has the unexported field b, which the result codec cannot set; export the fields, or implement encoding.BinaryMarshaler and BinaryUnmarshaler (or encoding.TextMarshaler and TextUnmarshaler) on *Unexported",
		"HalfMarshal":         "type HalfMarshal implements only one of encoding.BinaryMarshaler and encoding.BinaryUnmarshaler, so its records could not be decoded; implement both on *HalfMarshal",
		"HalfText":            "type HalfText implements only one of encoding.TextMarshaler and encoding.TextUnmarshaler, so its records could not be decoded; implement both on *HalfText",
		"HalfBinaryUnmarshal": "type HalfBinaryUnmarshal implements only one of encoding.BinaryMarshaler and encoding.BinaryUnmarshaler, so its records could not be decoded; implement both on *HalfBinaryUnmarshal",
		"Complex":             "C (type complex128) is a complex number, which CBOR cannot hold; return the real and imaginary parts as floats",
		"Uintptr":             "U (type uintptr) is a uintptr, which means nothing to another process; return an integer type",
		"TimeDefined":         "type TimeDefined is defined from time.Time without time.Time's methods, so the result codec cannot see its instant; return a time.Time, or implement encoding.TextMarshaler and encoding.TextUnmarshaler on *TimeDefined",
		"JSONDash":            `type JSONDash has the field B tagged json:"-", which the result codec also honours, so it would replay as its zero value; tag it cbor:"B" to record it, or cbor:"-" to leave it out on purpose`,
		"FuncField":           "F (type func()) is a func: functions cannot be recorded",
		"IfaceField":          "E (type error) is an interface: its dynamic type is unknown when the result is replayed; return a concrete type",
		"Nested":              "L[][value] (type Unexported) has the unexported field b, which the result codec cannot set; export the fields, or implement encoding.BinaryMarshaler and BinaryUnmarshaler (or encoding.TextMarshaler and TextUnmarshaler) on *Unexported",
	} {
		obj := scope.Lookup(name)
		require.NotNil(t, obj, name)
		assert.Equal(t, want, resultProblem(obj.Type(), q), name)
	}
}

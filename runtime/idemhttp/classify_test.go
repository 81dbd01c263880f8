package idemhttp_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idemhttp"
)

// apiError is the error type of a typical API client library.
type apiError struct{ code int }

func (e *apiError) Error() string   { return fmt.Sprintf("api: status %d", e.code) }
func (e *apiError) StatusCode() int { return e.code }

func TestClassifyErrorUsesClassifyRules(t *testing.T) {
	for code, want := range map[int]runtime.Class{
		200: runtime.ClassDefault, 302: runtime.ClassDefault,
		409: runtime.ClassNotApplied, 429: runtime.ClassNotApplied, 503: runtime.ClassNotApplied,
		400: runtime.ClassPermanent, 404: runtime.ClassPermanent, 422: runtime.ClassPermanent,
		500: runtime.ClassIndeterminate, 502: runtime.ClassIndeterminate, 504: runtime.ClassIndeterminate,
	} {
		require.Equal(t, want, idemhttp.ClassifyError(fmt.Errorf("charge: %w", &apiError{code})), "status %d", code)
		// The same rules as Classify's for responses.
		err := idemhttp.Classify(&http.Response{StatusCode: code, Header: http.Header{}}, nil)
		var se *idemhttp.StatusError
		if want == runtime.ClassDefault {
			require.NoError(t, err)
			continue
		}
		require.ErrorAs(t, err, &se)
		require.Equal(t, want, idemhttp.ClassifyError(err), "status %d through Classify", code)
	}
	require.Equal(t, runtime.ClassNotApplied, idemhttp.ClassifyError(&net.OpError{Op: "dial", Err: errors.New("refused")}))
	require.Equal(t, runtime.ClassDefault, idemhttp.ClassifyError(errors.New("other")))
	require.Equal(t, runtime.ClassDefault, idemhttp.ClassifyError(nil))
}

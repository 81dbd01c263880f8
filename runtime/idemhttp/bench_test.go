package idemhttp_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/idem-go/idem/runtime/idemhttp"
	"github.com/idem-go/idem/runtime/memstore"
)

// BenchmarkMiddleware measures the middleware's overhead through memstore
// against the bare handler, with a 1 KiB request body and a small JSON
// answer, calling ServeHTTP directly (no network):
//
//	go test ./runtime/idemhttp -run '^$' -bench Middleware -benchmem
func BenchmarkMiddleware(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"ch_1","amount":100,"currency":"eur"}`))
	})
	serve := func(b *testing.B, hh http.Handler, key func(i int) string) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			req := httptest.NewRequest(http.MethodPost, "/v1/charges", bytes.NewReader(body))
			if k := key(i); k != "" {
				req.Header.Set("Idempotency-Key", k)
			}
			rec := httptest.NewRecorder()
			hh.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("bare", func(b *testing.B) { serve(b, h, func(int) string { return "" }) })
	b.Run("first", func(b *testing.B) {
		mw := idemhttp.Middleware(idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()))(h)
		serve(b, mw, func(i int) string { return "key-" + strconv.Itoa(i) })
	})
	b.Run("replay", func(b *testing.B) {
		mw := idemhttp.Middleware(idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()))(h)
		serve(b, mw, func(int) string { return "same-key" })
	})
}

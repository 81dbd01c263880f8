package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idemhttp"
	"github.com/idem-go/idem/runtime/sqlitestore"
)

// ChargeRequest is the body of a charge request.
type ChargeRequest struct {
	Customer  string `json:"customer"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Reference string `json:"reference"` // the event id, for the books
}

// Charge is a charge the payments provider made.
type Charge struct {
	ID        string `json:"id"`
	Customer  string `json:"customer"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Reference string `json:"reference"`
}

// PaymentsClient calls the payments API over HTTP. Its http.Client sends
// the key of the wrapped call a request is made in as the Idempotency-Key
// header (idemhttp.Transport).
type PaymentsClient struct {
	URL  string
	HTTP *http.Client

	// afterCharge, if set, runs when the provider has confirmed a charge,
	// before Charge returns. The demo crashes the process there once.
	afterCharge func(reference string)
}

// Charge asks the provider for a charge. Called inside a wrapped call, the
// request carries the call's key, and the provider makes at most one
// charge per key: a repeated key gets the first charge.
//
// idemhttp.Classify turns each outcome into the runtime's classes: a 503 or
// a refused connection means the provider did nothing (not applied), a 4xx
// that it never will (permanent); any other failure after the request left
// may have charged (indeterminate), and the wrapper retries it with the
// same key.
func (c *PaymentsClient) Charge(ctx context.Context, req ChargeRequest) (Charge, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Charge{}, runtime.Permanent(err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/v1/charges", bytes.NewReader(body))
	if err != nil {
		return Charge{}, runtime.Permanent(err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(hreq)
	if err := idemhttp.Classify(resp, err); err != nil {
		if resp != nil {
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return Charge{}, fmt.Errorf("payments: %w: %s", err, bytes.TrimSpace(msg))
		}
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			// The client's own timeout, not the caller's: the provider may
			// have charged. Report it without wrapping DeadlineExceeded,
			// which the runtime takes for the caller giving up (never
			// retried); as an ordinary error it is indeterminate, and
			// retried with the same key.
			return Charge{}, fmt.Errorf("payments: no answer in time, the charge may have been made: %v", err)
		}
		return Charge{}, fmt.Errorf("payments: %w", err)
	}
	defer resp.Body.Close()
	var ch Charge
	if err := json.NewDecoder(resp.Body).Decode(&ch); err != nil {
		return Charge{}, fmt.Errorf("payments: bad answer: %w", err)
	}
	if c.afterCharge != nil {
		c.afterCharge(req.Reference)
	}
	return ch, nil
}

// fault is what the fake provider does to one request.
type fault int

const (
	serve          fault = iota // answer normally
	failBefore                  // 503 without doing anything
	badGateway                  // charge, then answer 502
	gatewayTimeout              // charge, then answer 504
	hangAfter                   // charge, then never answer (the client times out)
	numFaults
)

// defaultFaults is the fake provider's failure schedule by request number
// (1-based, counting every request, repeats included): every 7th request
// from the 3rd is refused with nothing done, and every 5th fails after the
// charge. No three requests in a row fail, so five attempts always succeed.
func defaultFaults(n int) fault {
	switch {
	case n%7 == 3:
		return failBefore
	case n%10 == 5:
		return badGateway
	case n%10 == 0:
		return gatewayTimeout
	}
	return serve
}

// Payments is a fake payments provider, like Stripe: a net/http server
// whose charge handler makes one charge per request it runs, behind
// idemhttp.Middleware, which runs it at most once per Idempotency-Key and
// answers a repeated key with the first charge. A front in front of it
// fails some requests on purpose, deterministically, before or after the
// charge.
//
// It stands in for a service that outlives the pipeline, so it keeps its
// charges in a JSON file, saved on every new charge, and the middleware
// its records in a SQLite file beside it: a second run over the same
// directory sees the charges and keys of the first.
type Payments struct {
	mu       sync.Mutex
	file     string
	faults   func(n int) fault
	charges  map[string]Charge // by charge id
	requests int
	failed   [numFaults]int
	repeated int // requests answered with an existing charge
	records  *sqlitestore.Store
	server   *httptest.Server
}

// startPayments starts the fake provider on a loopback port, with the
// charges saved in file, if it exists.
func startPayments(file string, faults func(n int) fault) (*Payments, error) {
	p := &Payments{file: file, faults: faults, charges: map[string]Charge{}}
	if err := loadJSON(file, &p.charges); err != nil {
		return nil, fmt.Errorf("payments: %w", err)
	}
	records, err := sqlitestore.Open(strings.TrimSuffix(file, ".json") + "-idem.db")
	if err != nil {
		return nil, fmt.Errorf("payments: %w", err)
	}
	p.records = records
	mux := http.NewServeMux()
	// Every client of this demo is one tenant; a real API scopes keys by
	// the authenticated account (idemhttp.Scope).
	mux.Handle("POST /v1/charges", idemhttp.Middleware(
		idemhttp.Unscoped(),
		idemhttp.WithStore(records),
		idemhttp.RequireKey(),
	)(http.HandlerFunc(p.serveCharge)))
	p.server = httptest.NewServer(http.HandlerFunc(p.front(mux)))
	return p, nil
}

// Client returns a client of the provider.
func (p *Payments) Client(timeout time.Duration) *PaymentsClient {
	return &PaymentsClient{URL: p.server.URL, HTTP: &http.Client{Timeout: timeout, Transport: &idemhttp.Transport{}}}
}

// Close stops the provider.
func (p *Payments) Close() {
	p.server.Close()
	_ = p.records.Close()
}

// PaymentsStats counts what the provider saw.
type PaymentsStats struct {
	Charges    int // charges made
	References int // distinct references (event ids) charged
	Requests   int // requests received, repeats included
	Repeated   int // requests answered with the charge made for their key before
	FailBefore int // requests refused (503) before charging
	FailAfter  int // requests that charged and then failed (502, 504, no answer)
}

// Stats returns the provider's counters.
func (p *Payments) Stats() PaymentsStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	refs := map[string]bool{}
	for _, ch := range p.charges {
		refs[ch.Reference] = true
	}
	return PaymentsStats{
		Charges:    len(p.charges),
		References: len(refs),
		Requests:   p.requests,
		Repeated:   p.repeated,
		FailBefore: p.failed[failBefore],
		FailAfter:  p.failed[badGateway] + p.failed[gatewayTimeout] + p.failed[hangAfter],
	}
}

// ChargesFor returns the ids of the charges made for reference, in order.
func (p *Payments) ChargesFor(reference string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for _, ch := range p.charges {
		if ch.Reference == reference {
			ids = append(ids, ch.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// front applies the fault schedule: a request refused before is never
// seen by the API; one that fails after is served (and so charged and
// recorded), and its answer replaced by an error.
func (p *Payments) front(api http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests++
		f := p.faults(p.requests)
		p.failed[f]++
		p.mu.Unlock()
		if f == failBefore {
			http.Error(w, "overloaded, nothing was charged: retry later", http.StatusServiceUnavailable)
			return
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, r)
		if rec.Header().Get(idemhttp.ReplayedHeader) == "true" {
			p.mu.Lock()
			p.repeated++
			p.mu.Unlock()
		}
		switch f {
		case badGateway:
			http.Error(w, "upstream connection reset", http.StatusBadGateway)
		case gatewayTimeout:
			http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
		case hangAfter:
			<-r.Context().Done() // until the client gives up
		default:
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		}
	}
}

// serveCharge makes a charge: once per request it runs. The middleware in
// front of it makes that once per key.
func (p *Payments) serveCharge(w http.ResponseWriter, r *http.Request) {
	var req ChargeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Amount <= 0 {
		http.Error(w, "the body must be a charge request with a positive amount", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	ch := Charge{
		ID:        fmt.Sprintf("ch_%04d", len(p.charges)+1),
		Customer:  req.Customer,
		Amount:    req.Amount,
		Currency:  req.Currency,
		Reference: req.Reference,
	}
	p.charges[ch.ID] = ch
	err := saveJSON(p.file, p.charges)
	if err != nil {
		delete(p.charges, ch.ID)
	}
	p.mu.Unlock()
	if err != nil {
		http.Error(w, "saving the charge: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ch)
}

// loadJSON reads file into v; a missing file leaves v as it is.
func loadJSON(file string, v any) error {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// saveJSON writes v to file, replacing it atomically.
func saveJSON(file string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

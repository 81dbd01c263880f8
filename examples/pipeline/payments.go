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
	"sync"
	"time"

	"github.com/idem-go/idem/runtime"
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

// PaymentsClient calls the payments API over HTTP.
type PaymentsClient struct {
	URL  string
	HTTP *http.Client

	// afterCharge, if set, runs when the provider has confirmed a charge,
	// before Charge returns. The demo crashes the process there once.
	afterCharge func(reference string)
}

// Charge asks the provider for a charge under idempotencyKey. The provider
// makes at most one charge per key: a repeated key gets the first charge.
//
// Its errors tell the idem runtime what happened: a 503 means the provider
// did nothing (runtime.NotApplied), a 4xx that it never will
// (runtime.Permanent); any other failure after the request left may have
// charged, and is returned unmarked (indeterminate).
func (c *PaymentsClient) Charge(ctx context.Context, idempotencyKey string, req ChargeRequest) (Charge, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Charge{}, runtime.Permanent(err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/v1/charges", bytes.NewReader(body))
	if err != nil {
		return Charge{}, runtime.Permanent(err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Idempotency-Key", idempotencyKey)
	resp, err := c.HTTP.Do(hreq)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			// The client's own timeout, not the caller's: the provider may
			// have charged. Report it without wrapping DeadlineExceeded,
			// which the runtime takes for the caller giving up (never
			// retried); as an ordinary error it is indeterminate, and
			// retried with the same key.
			return Charge{}, fmt.Errorf("payments: no answer in time, the charge may have been made: %v", err)
		}
		// Refused connections and failed dials are recognised by the
		// runtime as not applied; anything else is indeterminate.
		return Charge{}, fmt.Errorf("payments: %w", err)
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(resp.Body)
	if err != nil {
		return Charge{}, fmt.Errorf("payments: reading the answer: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		var ch Charge
		if err := json.Unmarshal(msg, &ch); err != nil {
			return Charge{}, fmt.Errorf("payments: bad answer %q: %w", msg, err)
		}
		if c.afterCharge != nil {
			c.afterCharge(req.Reference)
		}
		return ch, nil
	case resp.StatusCode == http.StatusServiceUnavailable:
		return Charge{}, runtime.NotApplied(fmt.Errorf("payments: %s: %s", resp.Status, bytes.TrimSpace(msg)))
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return Charge{}, runtime.Permanent(fmt.Errorf("payments: %s: %s", resp.Status, bytes.TrimSpace(msg)))
	}
	return Charge{}, fmt.Errorf("payments: %s: %s", resp.Status, bytes.TrimSpace(msg))
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

// Payments is a fake payments provider, like Stripe: it makes at most one
// charge per Idempotency-Key and answers a repeated key with the first
// charge. It fails some requests on purpose, deterministically, before or
// after making the charge.
//
// It stands in for a service that outlives the pipeline, so it keeps its
// charges in a JSON file, saved on every new charge: a second run over the
// same directory sees the charges of the first.
type Payments struct {
	mu       sync.Mutex
	file     string
	faults   func(n int) fault
	charges  map[string]Charge // by idempotency key
	requests int
	failed   [numFaults]int
	repeated int // requests answered with an existing charge
	server   *httptest.Server
}

// startPayments starts the fake provider on a loopback port, with the
// charges saved in file, if it exists.
func startPayments(file string, faults func(n int) fault) (*Payments, error) {
	p := &Payments{file: file, faults: faults, charges: map[string]Charge{}}
	if err := loadJSON(file, &p.charges); err != nil {
		return nil, fmt.Errorf("payments: %w", err)
	}
	p.server = httptest.NewServer(http.HandlerFunc(p.serveCharge))
	return p, nil
}

// Client returns a client of the provider.
func (p *Payments) Client(timeout time.Duration) *PaymentsClient {
	return &PaymentsClient{URL: p.server.URL, HTTP: &http.Client{Timeout: timeout}}
}

// Close stops the provider.
func (p *Payments) Close() { p.server.Close() }

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

func (p *Payments) serveCharge(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/charges" {
		http.NotFound(w, r)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		http.Error(w, "an Idempotency-Key header is required", http.StatusBadRequest)
		return
	}
	var req ChargeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Amount <= 0 {
		http.Error(w, "the body must be a charge request with a positive amount", http.StatusBadRequest)
		return
	}
	ch, f, err := p.charge(key, req)
	switch {
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	case f == failBefore:
		http.Error(w, "overloaded, nothing was charged: retry later", http.StatusServiceUnavailable)
	case f == badGateway:
		http.Error(w, "upstream connection reset", http.StatusBadGateway)
	case f == gatewayTimeout:
		http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
	case f == hangAfter:
		<-r.Context().Done() // until the client gives up
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ch)
	}
}

// charge decides the fate of one request and makes the charge unless the
// request fails before.
func (p *Payments) charge(key string, req ChargeRequest) (Charge, fault, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	f := p.faults(p.requests)
	p.failed[f]++
	if f == failBefore {
		return Charge{}, f, nil
	}
	if ch, ok := p.charges[key]; ok {
		p.repeated++
		return ch, f, nil
	}
	ch := Charge{
		ID:        fmt.Sprintf("ch_%04d", len(p.charges)+1),
		Customer:  req.Customer,
		Amount:    req.Amount,
		Currency:  req.Currency,
		Reference: req.Reference,
	}
	p.charges[key] = ch
	if err := saveJSON(p.file, p.charges); err != nil {
		delete(p.charges, key)
		return Charge{}, serve, fmt.Errorf("saving the charge: %w", err)
	}
	return ch, f, nil
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

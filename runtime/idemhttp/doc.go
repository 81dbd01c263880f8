// Package idemhttp carries idem's keys over HTTP, on both sides.
//
// Client side: a wrapped function with //idem:effect api sends its key
// downstream through [Transport], which sets the Idempotency-Key header of
// every non-safe request made with the function's context, and turns each
// outcome into the runtime's error classes with [Classify], so that the
// wrapper retries exactly when that is safe.
//
// Server side: [Middleware] makes our own API honour the header: the first
// request with a key runs the handler and records its response in an idem
// store; later requests with the key get the recorded response, and the
// key's claim, leases and fencing are those of wrapped calls, so a server
// built with it runs each request at most once under crashes and retries.
package idemhttp

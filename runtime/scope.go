package runtime

import (
	"context"
	"encoding/binary"
)

// scopeKey is the context key of the scope set by WithScope.
type scopeKey struct{}

// WithScope returns a context under which every key and fingerprint that a
// wrapped call derives is scoped to scope, typically a tenant id: the same
// arguments under two scopes give two unrelated keys, so tenants never
// share, replay or probe each other's records, and [KeyFrom] returns the
// scoped key. A call under no scope derives the same keys as before scopes
// existed.
//
// Scopes nest: WithScope under a scoped context scopes within the outer
// scope (the key depends on both), so inner code can never leave its
// tenant's key space. An empty scope changes nothing.
//
// The scope must be the same on every attempt and in every process that
// may retry the operation, like the key arguments themselves; changing it
// for operations in flight makes them run again.
func WithScope(ctx context.Context, scope string) context.Context {
	if scope == "" {
		return ctx
	}
	outer := scopeFrom(ctx)
	chain := make([]byte, 0, len(outer)+binary.MaxVarintLen64+len(scope))
	chain = append(chain, outer...)
	chain = binary.AppendUvarint(chain, uint64(len(scope)))
	chain = append(chain, scope...)
	return context.WithValue(ctx, scopeKey{}, string(chain))
}

// scopeFrom returns the scopes of ctx, outermost first, each as
// uvarint(len) and its bytes; "" when ctx has none.
func scopeFrom(ctx context.Context) string {
	s, _ := ctx.Value(scopeKey{}).(string)
	return s
}

// SumContext is what the runtime calls to derive a call's key: the digest
// of the encoding written since Begin (see [Encoder.Sum]), mixed with the
// scope of ctx ([WithScope]) and the key secret ([SetKeySecret]). Without
// either it is exactly the digest, SHA-256 of the encoding. Otherwise it is
//
//	F("idem:scope:" uvarint(len(s)) s digest)
//
// where s is the chain of scopes (each uvarint(len) and its bytes,
// outermost first; empty without a scope) and F is HMAC-SHA256 under the
// key secret, or SHA-256 without a secret.
func (e *Encoder) SumContext(ctx context.Context) (Key, error) {
	d, err := e.digest()
	if err != nil {
		return Key{}, err
	}
	return finalKey(d, scopeFrom(ctx)), nil
}

// SumFingerprintContext is SumContext typed as a Fingerprint: fingerprints
// are scoped and keyed like keys.
func (e *Encoder) SumFingerprintContext(ctx context.Context) (Fingerprint, error) {
	k, err := e.SumContext(ctx)
	return Fingerprint(k), err
}

package runtime

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// EnvRetry is the environment variable that overrides retry policies
// without regenerating: a list of PATTERN=SETTINGS entries separated by
// semicolons, where PATTERN is a namespace or a namespace prefix ending in
// "*" ("*" alone matches every namespace) and SETTINGS are comma-separated
// attempts:N, delay:D and max-delay:D (Go durations). For example:
//
//	IDEM_RETRY='example.com/app/billing.*=attempts:8,delay:200ms,max-delay:5s; *=attempts:1'
//
// See SetRetryOverride for how overrides apply. A malformed value makes
// every wrapped call fail with an error that quotes the bad part, without
// running the function; validate it before deploying with
// ParseRetryOverrides (or `idem check-env`).
const EnvRetry = "IDEM_RETRY"

// RetryOverride replaces parts of the retry policy of the wrapped functions
// whose namespace matches Pattern.
type RetryOverride struct {
	// Pattern is a namespace (exact match), or a prefix followed by "*".
	Pattern string
	// Policy holds the replacing values: a zero field keeps the value the
	// wrapper was generated with.
	Policy RetryPolicy
}

// SetRetryOverride changes the number of attempts and the delays of the
// wrapped functions whose namespace matches pattern: an exact namespace,
// or a prefix followed by "*" ("*" alone matches all). Zero fields of p keep
// the generated value. When several patterns match a namespace, the exact
// one wins, then the longest prefix; an override set in code wins over
// IDEM_RETRY for the same pattern. Setting a pattern again replaces it; a
// zero p removes it.
//
// An override changes only how many attempts are made and how far apart:
// it never changes which errors are retried, so it cannot make an unsafe
// retry (an indeterminate failure under the none effect is never retried,
// whatever the budget). It applies to calls that start after it is set.
func SetRetryOverride(pattern string, p RetryPolicy) {
	retryOverrides.mu.Lock()
	defer retryOverrides.mu.Unlock()
	if p == (RetryPolicy{}) {
		delete(retryOverrides.code, pattern)
	} else {
		if retryOverrides.code == nil {
			retryOverrides.code = map[string]RetryPolicy{}
		}
		retryOverrides.code[pattern] = p
	}
	retryOverrides.resolved.Store(new(sync.Map))
	retryOverrides.gen.Add(1)
}

// ParseRetryOverrides parses the syntax of IDEM_RETRY. Errors quote the
// entry at fault and say what is expected.
func ParseRetryOverrides(s string) ([]RetryOverride, error) {
	var out []RetryOverride
	seen := map[string]bool{}
	for _, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		pattern, settings, ok := strings.Cut(entry, "=")
		pattern, settings = strings.TrimSpace(pattern), strings.TrimSpace(settings)
		if !ok || pattern == "" || settings == "" {
			return nil, fmt.Errorf("idem: %s: entry %q is not PATTERN=SETTINGS (e.g. example.com/app/billing.*=attempts:5,delay:200ms)", EnvRetry, entry)
		}
		if i := strings.IndexByte(pattern, '*'); i >= 0 && i != len(pattern)-1 {
			return nil, fmt.Errorf("idem: %s: pattern %q: '*' may only end a pattern (a namespace prefix)", EnvRetry, pattern)
		}
		if seen[pattern] {
			return nil, fmt.Errorf("idem: %s: pattern %q appears twice", EnvRetry, pattern)
		}
		seen[pattern] = true
		var p RetryPolicy
		for _, kv := range strings.Split(settings, ",") {
			kv = strings.TrimSpace(kv)
			name, val, ok := strings.Cut(kv, ":")
			name, val = strings.TrimSpace(name), strings.TrimSpace(val)
			if !ok {
				return nil, fmt.Errorf("idem: %s: %q in entry %q is not NAME:VALUE (attempts:N, delay:D, max-delay:D)", EnvRetry, kv, entry)
			}
			switch name {
			case "attempts":
				n, err := strconv.Atoi(val)
				if err != nil || n < 1 {
					return nil, fmt.Errorf("idem: %s: %q in entry %q: attempts is a whole number of at least 1", EnvRetry, kv, entry)
				}
				p.Attempts = n
			case "delay", "max-delay":
				d, err := time.ParseDuration(val)
				if err != nil || d <= 0 {
					return nil, fmt.Errorf("idem: %s: %q in entry %q: %s is a positive Go duration such as 200ms or 5s", EnvRetry, kv, entry, name)
				}
				if name == "delay" {
					p.Delay = d
				} else {
					p.MaxDelay = d
				}
			default:
				return nil, fmt.Errorf("idem: %s: %q in entry %q: unknown setting %q; use attempts, delay or max-delay", EnvRetry, kv, entry, name)
			}
		}
		if p.Delay > 0 && p.MaxDelay > 0 && p.MaxDelay < p.Delay {
			return nil, fmt.Errorf("idem: %s: entry %q: max-delay is shorter than delay", EnvRetry, entry)
		}
		out = append(out, RetryOverride{Pattern: pattern, Policy: p})
	}
	return out, nil
}

// retryOverrides holds the overrides set in code and those read from
// IDEM_RETRY, and the policy they resolve to per namespace.
var retryOverrides struct {
	mu       sync.Mutex
	code     map[string]RetryPolicy
	envValue string // the IDEM_RETRY value env was parsed from
	env      []RetryOverride
	envErr   error
	resolved atomic.Pointer[sync.Map] // namespace -> resolvedRetry; replaced when code overrides change
	gen      atomic.Uint64            // bumped when code overrides change
}

type resolvedRetry struct {
	env    string
	policy RetryPolicy
	ok     bool // an override matched
	err    error
}

// retryOverrideFor returns the override fields for namespace, merged from
// every matching pattern in order of specificity, or an error when
// IDEM_RETRY is malformed.
func retryOverrideFor(namespace string) (RetryPolicy, bool, error) {
	env := os.Getenv(EnvRetry)
	if env == "" && retryOverrides.gen.Load() == 0 {
		return RetryPolicy{}, false, nil // the common case: no overrides at all
	}
	cache := retryOverrides.resolved.Load()
	if cache != nil {
		if r, ok := cache.Load(namespace); ok && r.(resolvedRetry).env == env {
			r := r.(resolvedRetry)
			return r.policy, r.ok, r.err
		}
	}
	retryOverrides.mu.Lock()
	defer retryOverrides.mu.Unlock()
	cache = retryOverrides.resolved.Load()
	if cache == nil {
		cache = new(sync.Map)
		retryOverrides.resolved.Store(cache)
	}
	if env != retryOverrides.envValue {
		retryOverrides.envValue = env
		retryOverrides.env, retryOverrides.envErr = ParseRetryOverrides(env)
	}
	r := resolvedRetry{env: env, err: retryOverrides.envErr}
	if r.err == nil {
		r.policy, r.ok = mergeOverrides(namespace, retryOverrides.env, retryOverrides.code)
	}
	cache.Store(namespace, r)
	return r.policy, r.ok, r.err
}

// mergeOverrides fills each field of the policy from the most specific
// matching pattern that sets it; code overrides win over env ones of the
// same pattern.
func mergeOverrides(namespace string, env []RetryOverride, code map[string]RetryPolicy) (RetryPolicy, bool) {
	type match struct {
		o    RetryOverride
		rank int // higher is more specific
	}
	var ms []match
	add := func(o RetryOverride, fromCode bool) {
		rank, ok := specificity(o.Pattern, namespace)
		if !ok {
			return
		}
		rank *= 2
		if fromCode {
			rank++
		}
		ms = append(ms, match{o, rank})
	}
	for _, o := range env {
		add(o, false)
	}
	for p, pol := range code {
		add(RetryOverride{Pattern: p, Policy: pol}, true)
	}
	if len(ms) == 0 {
		return RetryPolicy{}, false
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].rank > ms[j].rank })
	var p RetryPolicy
	for _, m := range ms {
		if p.Attempts == 0 {
			p.Attempts = m.o.Policy.Attempts
		}
		if p.Delay == 0 {
			p.Delay = m.o.Policy.Delay
		}
		if p.MaxDelay == 0 {
			p.MaxDelay = m.o.Policy.MaxDelay
		}
	}
	return p, true
}

// specificity reports whether pattern matches namespace, and how
// specifically: an exact match outranks every prefix, and a longer prefix
// outranks a shorter one.
func specificity(pattern, namespace string) (int, bool) {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		if strings.HasPrefix(namespace, prefix) {
			return 1 + len(prefix), true
		}
		return 0, false
	}
	if pattern == namespace {
		return 1 << 30, true
	}
	return 0, false
}

// effectiveRetry returns the retry policy a call of spec uses: the
// generated one with any override's fields in place.
func effectiveRetry(spec *Spec) (RetryPolicy, error) {
	o, ok, err := retryOverrideFor(spec.Namespace)
	if err != nil || !ok {
		return spec.Retry, err
	}
	p := spec.Retry
	if o.Attempts > 0 {
		p.Attempts = o.Attempts
	}
	if o.Delay > 0 {
		p.Delay = o.Delay
	}
	if o.MaxDelay > 0 {
		p.MaxDelay = o.MaxDelay
	}
	return p, nil
}

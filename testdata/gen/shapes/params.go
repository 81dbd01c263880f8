package shapes

import "context"

// Tag is variadic.
//
//idem:key name, tags
func Tag(ctx context.Context, name string, tags ...string) ([]string, error) {
	called(ctx, "Tag")
	return append([]string{name}, tags...), nil
}

// Split has named results.
//
//idem:key s
func Split(ctx context.Context, s string) (head, tail string, err error) {
	called(ctx, "Split")
	if s == "" {
		return "", "", nil
	}
	return s[:1], s[1:], nil
}

// Ignore has blank parameters, its context among them.
//
//idem:key id
func Ignore(_ context.Context, id string, _ int) error {
	called(nil, "Ignore")
	return nil
}

// Plain takes no context.
//
//idem:key id
func Plain(id string) (string, error) {
	called(nil, "Plain")
	return "plain " + id, nil
}

// ctxLast is unexported and takes its context last.
//
//idem:key id
func ctxLast(id string, ctx context.Context) error {
	called(ctx, "ctxLast")
	return nil
}

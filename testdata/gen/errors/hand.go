package bad

import "context"

// Hand's generated file would overwrite a hand-written one.
//
//idem:key id
func Hand(ctx context.Context, id string) error { return nil }

package realcode

import (
	"context"

	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Quote returns a protobuf message: idemgen accepts it as a result, and the
// generated file imports runtime/idemproto, whose codec records it.
//
//idem:key id
func Quote(ctx context.Context, id string) (*wrapperspb.StringValue, error) {
	record(ctx, "Quote")
	return wrapperspb.String("quote for " + id), nil
}

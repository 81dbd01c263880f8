// Package idemgrpc classifies gRPC errors for the idem runtime: a wrapped
// function that calls a gRPC service opts in with
//
//	//idem:classify idemgrpc.Classify
//
// (or runtime.RegisterClassifier(namespace, idemgrpc.Classify)), and its
// errors carrying a gRPC status are retried exactly where the status code
// proves that a retry cannot duplicate the effect. It is a separate package
// so that only programs that use gRPC link it.
package idemgrpc

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idem-go/idem/runtime"
)

// Classify classifies err by the gRPC status it carries (found through
// errors.As, so wrapped statuses count):
//
//   - Unavailable, ResourceExhausted: runtime.ClassNotApplied (the server
//     did not process the request: retried under every effect);
//   - InvalidArgument, FailedPrecondition, NotFound, AlreadyExists,
//     PermissionDenied, Unauthenticated, Unimplemented, OutOfRange:
//     runtime.ClassPermanent (rejected before any effect; a retry gets the
//     same answer);
//   - DeadlineExceeded, Internal, Unknown, Canceled, Aborted, DataLoss:
//     runtime.ClassIndeterminate (the server may have applied the effect
//     before failing; Aborted too, as servers use it for conflicts
//     detected after writes as well as before);
//   - nil, OK, and errors without a gRPC status: runtime.ClassDefault (the
//     runtime's built-in rules decide).
//
// Unavailable is also what a client sees when a connection broke after
// the request was sent, on a server that does not deduplicate: gRPC
// documents the code as safe to retry, and this classifier relies on that.
// Use runtime.Classifiers to give your own rules precedence.
func Classify(err error) runtime.Class {
	if err == nil {
		return runtime.ClassDefault
	}
	s, ok := status.FromError(err)
	if !ok {
		return runtime.ClassDefault
	}
	return ClassifyCode(s.Code())
}

// ClassifyCode is Classify's table for one status code.
func ClassifyCode(c codes.Code) runtime.Class {
	switch c {
	case codes.OK:
		return runtime.ClassDefault
	case codes.Unavailable, codes.ResourceExhausted:
		return runtime.ClassNotApplied
	case codes.InvalidArgument, codes.FailedPrecondition, codes.NotFound, codes.AlreadyExists,
		codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented, codes.OutOfRange:
		return runtime.ClassPermanent
	}
	return runtime.ClassIndeterminate
}

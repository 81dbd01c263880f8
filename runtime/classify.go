package runtime

import (
	"fmt"
	"sync"
)

// Class is what an error of a wrapped function says about its effect, and
// so whether the runtime may run the function again with the same key. A
// function declares how its own errors classify with a classifier, a
// func(error) Class: in its Spec (Spec.Classify, which idemgen fills from
// //idem:classify FuncName) or, without regenerating, with
// RegisterClassifier for its namespace. Opt-in classifiers for common
// protocols: runtime/idemgrpc.Classify (gRPC status codes) and
// runtime/idemhttp.ClassifyError (HTTP status codes).
//
// Classifiers are consulted after the rules no classifier may change
// (errors of a wrapped call inside the function that ran and could not
// record its outcome, ErrNotRecorded and ErrLeaseLost, are applied and
// never retried) and after explicit marks (NotApplied, Permanent), and
// before the built-in rules (context errors stop the call; everything else
// is indeterminate).
type Class uint8

const (
	// ClassDefault is a classifier's "no opinion": the built-in rules
	// decide. Return it for every error the classifier does not know.
	ClassDefault Class = iota
	// ClassNotApplied: the effect certainly did not happen; retried under
	// every effect, and the claim is released when the last attempt fails
	// (as NotApplied).
	ClassNotApplied
	// ClassPermanent: the effect did not happen and retrying cannot help;
	// never retried, the claim is released (as Permanent).
	ClassPermanent
	// ClassIndeterminate: the effect may have happened; retried only
	// under //idem:effect api and queue, and under none the key becomes
	// indeterminate (ErrIndeterminate).
	ClassIndeterminate
)

// String returns the class's name: "default", "not applied", "permanent"
// or "indeterminate".
func (c Class) String() string {
	switch c {
	case ClassDefault:
		return "default"
	case ClassNotApplied:
		return "not applied"
	case ClassPermanent:
		return "permanent"
	case ClassIndeterminate:
		return "indeterminate"
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

func (c Class) internal() errClass {
	switch c {
	case ClassNotApplied:
		return classNotApplied
	case ClassPermanent:
		return classPermanent
	}
	return classIndeterminate
}

// Classifiers returns a classifier that asks each of fs in turn and returns
// the first answer other than ClassDefault (ClassDefault if none has one),
// so that a function can combine its own rules with built-in ones:
//
//	runtime.Classifiers(classifyOurErrors, idemgrpc.Classify)
func Classifiers(fs ...func(error) Class) func(error) Class {
	return func(err error) Class {
		for _, f := range fs {
			if c := f(err); c != ClassDefault {
				return c
			}
		}
		return ClassDefault
	}
}

// classifiers holds RegisterClassifier's classifiers: namespace ->
// func(error) Class.
var classifiers sync.Map

// RegisterClassifier makes f classify the errors of the wrapped function
// whose namespace (Spec.Namespace, as printed in its wrapper's doc) is
// namespace, for functions whose generated Spec has no Classify (a Spec's
// own classifier wins; RegisterClassifier's is asked when it answers
// ClassDefault). Call it at initialisation, before the first call of the
// function: keys and records do not change, so it is safe to add to code
// with calls in flight. It panics when f is nil or namespace already has a
// classifier, as two rules for one function would race on which wins.
func RegisterClassifier(namespace string, f func(error) Class) {
	if f == nil {
		panic("idem: RegisterClassifier(" + namespace + ", nil): pass a func(error) runtime.Class")
	}
	if _, dup := classifiers.LoadOrStore(namespace, f); dup {
		panic("idem: RegisterClassifier: namespace " + namespace + " already has a classifier; combine them with runtime.Classifiers")
	}
}

// classOf classifies err with the function's own classifiers.
func (s *Spec) classOf(err error) Class {
	if s.Classify != nil {
		if c := s.Classify(err); c != ClassDefault {
			return c
		}
	}
	if f, ok := classifiers.Load(s.Namespace); ok {
		return f.(func(error) Class)(err)
	}
	return ClassDefault
}

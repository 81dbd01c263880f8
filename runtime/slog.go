package runtime

import (
	"context"
	"log/slog"
	"time"
)

// slowWait is how long a wait for another holder must last before
// SlogObserver logs it.
const slowWait = time.Second

// SlogObserver returns an Observer that writes one structured line to
// logger per notable event, and none per replay or first execution:
//
//   - at Warn: indeterminate outcomes, takeovers, reused keys, store
//     errors and outcomes that could not be recorded, each with the
//     namespace, key, attempt and error;
//   - at Info: calls that start waiting for another holder of their key
//     whose lease runs more than a second longer (with the lease's end:
//     after a crash, the wait lasts until then), and calls that waited
//     longer than a second.
//
// Keys are logged (an operator needs them to inspect or delete a record);
// argument values never are. Combine it with other observers through a
// function that calls each.
func SlogObserver(logger *slog.Logger) Observer {
	return ObserverFunc(func(e Event) {
		level := slog.LevelWarn
		var msg string
		switch e.Kind {
		case EventIndeterminate:
			msg = "idem: outcome indeterminate; the key is blocked until its retention passes or an operator deletes the record"
		case EventTakeover:
			msg = "idem: took over a key whose holder's lease had passed"
		case EventKeyReused:
			msg = "idem: key reused with other arguments"
		case EventStoreError:
			msg = "idem: store error; the call failed closed"
		case EventRecordFailed:
			msg = "idem: the function ran but its outcome could not be recorded; the key is blocked until its lease passes"
		case EventWaiting:
			if e.LeaseUntil.IsZero() || time.Until(e.LeaseUntil) < slowWait {
				return
			}
			level, msg = slog.LevelInfo, "idem: waiting for another holder of the key"
		case EventWaited:
			if e.Duration < slowWait {
				return
			}
			level, msg = slog.LevelInfo, "idem: waited for another holder of the key"
		default:
			return
		}
		ctx := context.Background()
		if !logger.Enabled(ctx, level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("namespace", e.Namespace),
			slog.String("key", e.Key.String()),
			slog.Duration("duration", e.Duration),
		}
		if e.Step != "" {
			attrs = append(attrs, slog.String("step", e.Step))
		}
		if e.Attempt > 0 {
			attrs = append(attrs, slog.Int("attempt", e.Attempt))
		}
		if e.Err != nil {
			attrs = append(attrs, slog.String("error", e.Err.Error()))
		}
		if !e.LeaseUntil.IsZero() {
			attrs = append(attrs, slog.Time("holder_lease_until", e.LeaseUntil))
		}
		logger.LogAttrs(ctx, level, msg, attrs...)
	})
}

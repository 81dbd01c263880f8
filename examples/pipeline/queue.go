package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Queue is a fake message queue that deduplicates on a deduplication id, as
// SQS FIFO queues do with MessageDeduplicationId: a message whose id it has
// seen is acknowledged and dropped. Every failEvery-th send fails after the
// message was enqueued (the acknowledgement is lost), so the sender cannot
// tell whether it went through.
//
// Like the payments provider it stands in for a service that outlives the
// pipeline, and keeps its messages in a JSON file.
type Queue struct {
	mu        sync.Mutex
	file      string
	failEvery int
	messages  []QueuedMessage
	seen      map[string]bool // deduplication ids
	sends     int
	failed    int
	dropped   int
}

// QueuedMessage is a message as the queue holds it.
type QueuedMessage struct {
	DedupID string
	Message Message
}

// openQueue returns the queue saved in file, or an empty one if the file
// does not exist. failEvery ≤ 0 disables the injected failures.
func openQueue(file string, failEvery int) (*Queue, error) {
	q := &Queue{file: file, failEvery: failEvery, seen: map[string]bool{}}
	if err := loadJSON(file, &q.messages); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	for _, m := range q.messages {
		q.seen[m.DedupID] = true
	}
	return q, nil
}

// Send enqueues msg unless a message with dedupID was enqueued before.
func (q *Queue) Send(ctx context.Context, dedupID string, msg Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sends++
	if q.seen[dedupID] {
		q.dropped++
	} else {
		q.messages = append(q.messages, QueuedMessage{DedupID: dedupID, Message: msg})
		if err := saveJSON(q.file, q.messages); err != nil {
			q.messages = q.messages[:len(q.messages)-1]
			return fmt.Errorf("queue: saving the message: %w", err)
		}
		q.seen[dedupID] = true
	}
	if q.failEvery > 0 && q.sends%q.failEvery == 0 {
		q.failed++
		return errors.New("queue: connection reset before the acknowledgement")
	}
	return nil
}

// QueueStats counts what the queue saw.
type QueueStats struct {
	Messages int // messages enqueued
	Events   int // distinct event ids among them
	Sends    int // sends received, repeats included
	Failed   int // sends that enqueued and then failed
	Dropped  int // sends dropped as duplicates
}

// Stats returns the queue's counters.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	events := map[string]bool{}
	for _, m := range q.messages {
		events[m.Message.EventID] = true
	}
	return QueueStats{Messages: len(q.messages), Events: len(events), Sends: q.sends, Failed: q.failed, Dropped: q.dropped}
}

// ChargesFor returns the charge ids carried by the messages of eventID, in
// the order they were enqueued.
func (q *Queue) ChargesFor(eventID string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ids []string
	for _, m := range q.messages {
		if m.Message.EventID == eventID {
			ids = append(ids, m.Message.ChargeID)
		}
	}
	return ids
}

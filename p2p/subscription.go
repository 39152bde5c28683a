package p2p

import (
	"context"
	"fmt"
	"sync/atomic"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
)

// subscription is what the topic subscriptions share: a bounded channel that drops (and
// counts) what a lagging consumer has no room for, fed by one goroutine the Host owns.
type subscription[T any] struct {
	ch      chan T
	dropped atomic.Uint64
	cancel  context.CancelFunc
	done    chan struct{}
}

// Dropped counts what was dropped because the consumer lagged.
func (s *subscription[T]) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and waits for its goroutine.
func (s *subscription[T]) Close() {
	s.cancel()
	<-s.done
}

// follow subscribes to pt, an acquired topic that key releases, and delivers what take makes
// of each validated message. delivered and dropped (either may be nil) see each outcome.
func follow[T any](n *Host, pt *processTopic, key, name string, take func(*pubsub.Message) (T, bool), delivered func(*pubsub.Message, T), dropped func()) (*subscription[T], error) {
	sub, err := pt.topic.Subscribe(pubsub.WithBufferSize(n.cfg.Gossip.SubscriptionBuffer))
	if err != nil {
		n.releaseTopic(key)
		return nil, fmt.Errorf("p2p: subscribing %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(n.ctx)
	s := &subscription[T]{ch: make(chan T, n.cfg.Gossip.SubscriptionBuffer), cancel: cancel, done: make(chan struct{})}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		cancel()
		sub.Cancel()
		return nil, ErrClosed
	}
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		defer close(s.done)
		defer close(s.ch)
		defer n.releaseTopic(key)
		defer sub.Cancel()
		for {
			msg, err := sub.Next(ctx)
			if err != nil {
				return
			}
			v, ok := take(msg)
			if !ok {
				continue
			}
			select {
			case s.ch <- v:
				if delivered != nil {
					delivered(msg, v)
				}
			default:
				s.dropped.Add(1)
				if dropped != nil {
					dropped()
				}
			}
		}
	}()
	return s, nil
}

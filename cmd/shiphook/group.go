package main

import (
	"context"
	"log/slog"
	"sync"
)

// group runs the service's long-running parts. The first to fail, or the
// end of the context it was made with, stops them all.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
}

func newGroup(ctx context.Context) *group {
	ctx, cancel := context.WithCancel(ctx)
	return &group{ctx: ctx, cancel: cancel, errs: make(chan error, 1)}
}

// run runs fn in the group with the group's context; an error it returns
// stops the group, and the first is what wait returns.
func (g *group) run(fn func(ctx context.Context) error) {
	g.wg.Go(func() {
		if err := fn(g.ctx); err != nil {
			select {
			case g.errs <- err:
			default: // a failure is already reported
			}
		}
	})
}

// wait blocks until the group's context ends or a part fails, then stops
// every part and returns the failure, if any.
func (g *group) wait(log *slog.Logger) error {
	var err error
	select {
	case <-g.ctx.Done():
	case err = <-g.errs:
	}
	log.Info("shutting down: finishing in-flight deliveries")
	g.stop()
	return err
}

// stop cancels the group's context and waits for every part to return. It
// may be called more than once.
func (g *group) stop() {
	g.cancel()
	g.wg.Wait()
}

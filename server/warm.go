package server

import (
	"log/slog"
	"runtime/debug"
	"sync"
)

// warmPool runs handler calls on long-lived goroutines.
//
// asynq starts a new goroutine for every task, with Go's initial 8 KiB stack.
// A send goes deep (asynq, telequeue's handler, telego, the JSON encoder,
// fasthttp, go-redis), so every task used to grow its stack several times,
// each time copying it: in the 6 × 10 benchmark the runtime's stack copying
// was 9–13% of a worker's CPU. The goroutines of a warmPool keep the stack
// they grew (until the garbage collector shrinks an idle one), so a task
// costs a channel hand-over instead (see BENCHMARKS.md for the figures).
//
// A call never waits for a pool goroutine: when all are busy (asynq may start
// a task while a handler it gave up on at a deadline still runs), the call
// runs on the caller's goroutine as before.
type warmPool struct {
	n       int
	jobs    chan *warmJob
	quit    chan struct{}
	starter sync.Once
	once    sync.Once
	log     *slog.Logger
}

type warmJob struct {
	f     func() error
	err   error
	panic any    // a value the call panicked with, re-raised in the caller
	stack []byte // where it panicked
	done  chan struct{}
}

// newWarmPool returns a pool of n goroutines, started by start. Until then
// (and after stop) calls run on their callers.
func newWarmPool(n int, log *slog.Logger) *warmPool {
	return &warmPool{n: n, jobs: make(chan *warmJob), quit: make(chan struct{}), log: log}
}

// start starts the goroutines, once; not after stop.
func (p *warmPool) start() {
	p.starter.Do(func() {
		select {
		case <-p.quit:
			return
		default:
		}
		for range p.n {
			go p.loop()
		}
	})
}

func (p *warmPool) loop() {
	for {
		select {
		case j := <-p.jobs:
			j.run()
		case <-p.quit:
			return
		}
	}
}

func (j *warmJob) run() {
	defer close(j.done)
	defer func() {
		if v := recover(); v != nil {
			j.panic, j.stack = v, debug.Stack()
		}
	}()
	j.err = j.f()
}

// run calls f on an idle pool goroutine, or on the caller's goroutine if
// there is none, and returns its error. A panic in f is logged with its
// stack and re-raised in the caller with the same value, where asynq's
// recovery turns it into the task's error as for any handler.
func (p *warmPool) run(f func() error) error {
	j := &warmJob{f: f, done: make(chan struct{})}
	select {
	case p.jobs <- j:
	default:
		return f()
	}
	<-j.done
	if j.panic != nil {
		p.log.Error("handler panicked", "panic", j.panic, "stack", string(j.stack))
		panic(j.panic)
	}
	return j.err
}

// stop ends the idle goroutines; later calls run on their callers.
func (p *warmPool) stop() { p.once.Do(func() { close(p.quit) }) }

package redistest

import (
	"net"
	"sync"
)

// Proxy forwards TCP connections from a loopback port to a target address,
// and can stall or cut them: a network link under test control. Sentinel
// sets put it between the master and its replica so that a test can make
// the replica lag without the kernel's socket buffers delivering the
// master's stream behind the test's back (as they do when the replica
// process is merely paused).
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	held    bool
	release chan struct{} // closed when a hold ends
	// repliesHeld and replies: the same for the target → client
	// direction alone (HoldReplies).
	repliesHeld bool
	replies     chan struct{}
	conns       map[net.Conn]struct{}
	closed      bool
	wg          sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, release: make(chan struct{}), replies: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.release) // not held
	close(p.replies)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(c, up) {
			return
		}
		p.wg.Add(2)
		go p.pipe(up, c, false)
		go p.pipe(c, up, true)
	}
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies src to dst, waiting before each write while the link (or,
// for replies, the target → client direction) is held. Bytes read during a
// hold are forwarded after Release, or dropped by Cut.
func (p *Proxy) pipe(dst, src net.Conn, replies bool) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			release, repliesRelease := p.release, p.replies
			p.mu.Unlock()
			<-release
			if replies {
				<-repliesRelease
			}
			if p.isClosed(dst) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or closed
		}
	}
}

func (p *Proxy) isClosed(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, open := p.conns[c]
	return !open
}

// Hold stalls every connection in both directions: nothing is delivered
// until Release, and Cut drops what was held.
func (p *Proxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.held {
		p.held = true
		p.release = make(chan struct{})
	}
}

// HoldReplies stalls the target → client direction only: what clients
// send still reaches the target and is executed there, but they get no
// answer until Release. For Redis: a client's writes land while it waits,
// as if it were frozen right after sending them.
func (p *Proxy) HoldReplies() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.repliesHeld {
		p.repliesHeld = true
		p.replies = make(chan struct{})
	}
}

// Release ends a hold (Hold or HoldReplies); held bytes are delivered.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked()
}

func (p *Proxy) releaseLocked() {
	if p.held {
		p.held = false
		close(p.release)
	}
	if p.repliesHeld {
		p.repliesHeld = false
		close(p.replies)
	}
}

// Cut closes every open connection, dropping held bytes, and ends a hold;
// new connections are still accepted.
func (p *Proxy) Cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.releaseLocked()
	p.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

package ldapserver

import (
	"io"
	"net"
	"sync"
)

// proxy owns a server's public port and forwards each connection to the gldap listener, so the
// server can drop client connections on demand (gldap gives handlers no way to close one).
type proxy struct {
	ln     net.Listener
	target string
	stats  *counters

	mu    sync.Mutex
	conns map[net.Conn]net.Conn
	wg    sync.WaitGroup
}

func newProxy(target string, stats *counters) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, stats: stats, conns: map[net.Conn]net.Conn{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.stats.connections.Add(1)
		p.mu.Lock()
		p.conns[c] = b
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, b)
		go p.pipe(b, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// dropAll closes every open client connection. The count is recorded before the first close,
// so a client that sees its connection die also sees it counted.
func (p *proxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	p.stats.dropped.Add(int64(n))
	for c, b := range p.conns {
		_ = c.Close()
		_ = b.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c, b := range p.conns {
		_ = c.Close()
		_ = b.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

package ad

import (
	"io"
	"net"
	"sync"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// ldapProxy is a loopback TCP proxy in front of a plain-LDAP server. It decodes the client's
// LDAP messages with go-ldap's ber package to record what each SearchRequest asked for, and can
// cut the first connection after a number of search result entries (a connection dropped
// mid-page).
type ldapProxy struct {
	ln     net.Listener
	target string

	mu          sync.Mutex
	searches    []searchCapture
	conns       int
	cutAfter    int // entries; 0 = never
	cutDone     bool
	entriesSeen int
}

type searchCapture struct {
	Base       string
	Filter     string
	Attributes []string
}

func newLDAPProxy(t *testing.T, target string) *ldapProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &ldapProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close() })
	return p
}

func (p *ldapProxy) URL() string { return "ldap://" + p.ln.Addr().String() }

func (p *ldapProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns++
		first := p.conns == 1
		p.mu.Unlock()
		closeBoth := func() { _ = c.Close(); _ = s.Close() }
		go p.pump(c, s, closeBoth, p.clientMessage, false)
		go p.pump(s, c, closeBoth, p.serverMessage, first)
	}
}

// pump forwards src to dst byte for byte while decoding each LDAP message from the same bytes.
func (p *ldapProxy) pump(src, dst net.Conn, closeBoth func(), inspect func(*ber.Packet) bool, mayCut bool) {
	defer closeBoth()
	tee := io.TeeReader(src, dst)
	for {
		pkt, err := ber.ReadPacket(tee)
		if err != nil {
			return
		}
		if !inspect(pkt) && mayCut {
			return // cut: close both sides mid-page
		}
	}
}

func (p *ldapProxy) clientMessage(pkt *ber.Packet) bool {
	if len(pkt.Children) < 2 || pkt.Children[1].Tag != ber.Tag(3) { // SearchRequest
		return true
	}
	op := pkt.Children[1]
	if len(op.Children) < 8 {
		return true
	}
	c := searchCapture{Base: packetString(op.Children[0])}
	if f, err := ldap.DecompileFilter(op.Children[6]); err == nil {
		c.Filter = f
	}
	for _, a := range op.Children[7].Children {
		c.Attributes = append(c.Attributes, packetString(a))
	}
	p.mu.Lock()
	p.searches = append(p.searches, c)
	p.mu.Unlock()
	return true
}

func packetString(p *ber.Packet) string {
	if s, ok := p.Value.(string); ok {
		return s
	}
	return p.Data.String()
}

// serverMessage returns false when the connection must be cut now.
func (p *ldapProxy) serverMessage(pkt *ber.Packet) bool {
	if len(pkt.Children) < 2 || pkt.Children[1].Tag != ber.Tag(4) { // SearchResultEntry
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entriesSeen++
	if p.cutAfter > 0 && !p.cutDone && p.entriesSeen >= p.cutAfter {
		p.cutDone = true
		return false
	}
	return true
}

func (p *ldapProxy) captured() []searchCapture {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]searchCapture(nil), p.searches...)
}

func (p *ldapProxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

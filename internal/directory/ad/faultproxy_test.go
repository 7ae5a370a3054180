package ad

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// LDAP protocol operation tags ([APPLICATION n]) the fault proxy acts on.
const (
	opBindRequest      = 0
	opSearchRequest    = 3
	opSearchResultDone = 5
	opModifyResponse   = 7
	opExtendedRequest  = 23
	opExtendedResponse = 24
)

// faultAction is what the proxy does with one LDAP message.
type faultAction int

const (
	forward         faultAction = iota
	drop                        // close both sides without forwarding
	swallow                     // forward nothing, keep the connection (a DC that stops answering)
	replyBusy                   // answer a request with resultCode busy (51) instead of forwarding it
	replyAdminLimit             // answer with adminLimitExceeded (11)
)

// faultProxy is a loopback TCP proxy in front of an LDAP server that decodes each message and
// lets a test inject a fault per message: drop the connection, stop answering, or answer for
// the server. After StartTLS both directions are copied as they are (TLS records).
type faultProxy struct {
	ln     net.Listener
	target string

	mu sync.Mutex
	// rule decides per message; conn counts connections from 1, toServer is the direction.
	rule   func(conn int, toServer bool, op int, pkt *ber.Packet) faultAction
	conns  int
	counts map[int]int // client requests seen, by op
	// repeatPage answers the second page request of a paged search with the first page again
	// (its entries and cookie), as a server that repeats its page.
	repeatPage bool
	firstID    int64    // message ID of the first paged search request
	page       [][]byte // the server's answer to it, message by message
	pageDone   bool
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, counts: map[int]int{}}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close() })
	return p
}

func (p *faultProxy) URL() string { return "ldap://" + p.ln.Addr().String() }

func (p *faultProxy) setRule(r func(conn int, toServer bool, op int, pkt *ber.Packet) faultAction) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rule = r
}

func (p *faultProxy) setRepeatPage(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.repeatPage, p.firstID, p.page, p.pageDone = on, 0, nil, false
}

func (p *faultProxy) count(op int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[op]
}

func (p *faultProxy) serve() {
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
		n := p.conns
		p.mu.Unlock()
		var once sync.Once
		done := make(chan struct{})
		closeBoth := func() { once.Do(func() { _ = c.Close(); _ = s.Close(); close(done) }) }
		tls := make(chan struct{})
		go p.pump(n, c, s, c, true, closeBoth, tls, done)
		go p.pump(n, s, c, s, false, closeBoth, tls, done)
	}
}

// pump forwards src to dst message by message. back is the connection answers forged by the
// proxy go to (the client). After a StartTLS exchange it copies bytes.
func (p *faultProxy) pump(conn int, src, dst, back net.Conn, toServer bool, closeBoth func(), tls, done chan struct{}) {
	defer closeBoth()
	for {
		raw, err := readMessage(src)
		if err != nil {
			return
		}
		pkt, err := ber.DecodePacketErr(raw)
		if err != nil || len(pkt.Children) < 2 {
			return
		}
		op := int(pkt.Children[1].Tag)
		p.mu.Lock()
		if toServer {
			p.counts[op]++
		}
		rule := p.rule
		replay := p.repeatPageLocked(toServer, op, raw, pkt)
		p.mu.Unlock()
		if replay != nil {
			for _, m := range replay {
				if _, err := back.Write(m); err != nil {
					return
				}
			}
			continue
		}
		action := forward
		if rule != nil {
			action = rule(conn, toServer, op, pkt)
		}
		switch action {
		case drop:
			return
		case swallow:
			continue
		case replyBusy, replyAdminLimit:
			code := ldap.LDAPResultBusy
			if action == replyAdminLimit {
				code = ldap.LDAPResultAdminLimitExceeded
			}
			if _, err := back.Write(resultDone(pkt, int64(code))); err != nil {
				return
			}
			continue
		}
		if _, err := dst.Write(raw); err != nil {
			return
		}
		if op == opExtendedResponse {
			// StartTLS answered: from here on both sides speak TLS.
			close(tls)
		}
		if op == opExtendedRequest {
			select {
			case <-tls:
			case <-done:
				return
			}
			_, _ = io.Copy(dst, src)
			return
		}
		if op == opExtendedResponse {
			_, _ = io.Copy(dst, src)
			return
		}
	}
}

// repeatPageLocked records the answer to the first paged search request and returns it again
// (with the new message ID) for the next paged request, which is then not forwarded.
func (p *faultProxy) repeatPageLocked(toServer bool, op int, raw []byte, pkt *ber.Packet) [][]byte {
	if !p.repeatPage {
		return nil
	}
	id, _ := pkt.Children[0].Value.(int64)
	if !toServer {
		if p.firstID != 0 && id == p.firstID && !p.pageDone {
			p.page = append(p.page, bytes.Clone(raw))
			p.pageDone = op == opSearchResultDone
		}
		return nil
	}
	if op != opSearchRequest || pagingCookie(pkt) == nil {
		return nil
	}
	if p.firstID == 0 {
		p.firstID = id
		return nil
	}
	if !p.pageDone {
		return nil
	}
	out := make([][]byte, 0, len(p.page))
	for _, m := range p.page {
		old := ber.DecodePacket(m)
		msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
		msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
		for _, c := range old.Children[1:] {
			msg.AppendChild(c)
		}
		out = append(out, msg.Bytes())
	}
	return out
}

// pagingCookie returns the paged-results control of a request (nil: not paged).
func pagingCookie(pkt *ber.Packet) *ldap.ControlPaging {
	if len(pkt.Children) < 3 {
		return nil
	}
	for _, c := range pkt.Children[2].Children {
		if ctl, err := ldap.DecodeControl(c); err == nil {
			if paging, ok := ctl.(*ldap.ControlPaging); ok {
				return paging
			}
		}
	}
	return nil
}

// readMessage reads one BER-encoded LDAPMessage (a SEQUENCE) as it is on the wire.
func readMessage(r io.Reader) ([]byte, error) {
	head := make([]byte, 2)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	length := int(head[1])
	if head[1]&0x80 != 0 {
		n := int(head[1] & 0x7f)
		if n == 0 || n > 4 {
			return nil, errors.New("unsupported BER length")
		}
		lb := make([]byte, n)
		if _, err := io.ReadFull(r, lb); err != nil {
			return nil, err
		}
		head = append(head, lb...)
		length = int(binary.BigEndian.Uint32(append(make([]byte, 4-n), lb...)))
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(head, body...), nil
}

// resultDone forges the response to req with resultCode code: a SearchResultDone for a
// search, the matching response type otherwise.
func resultDone(req *ber.Packet, code int64) []byte {
	id := req.Children[0].Value
	respTag := ber.Tag(req.Children[1].Tag + 1)
	if req.Children[1].Tag == opSearchRequest {
		respTag = opSearchResultDone
	}
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, respTag, nil, "Response")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, "resultCode"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "injected by the test proxy", "diagnosticMessage"))
	msg.AppendChild(op)
	return msg.Bytes()
}

// Package inspecttest builds wire bytes that the tests of several packages
// need, as net/http/httptest does for HTTP. Only tests import it.
package inspecttest

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// ClientHello returns the first TLS record crypto/tls sends for
// serverName: a real, modern ClientHello (TLS 1.3 key shares and many
// extensions) with that SNI.
func ClientHello(tb testing.TB, serverName string) []byte {
	tb.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		_ = tls.Client(c, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}).Handshake()
		c.Close()
	}()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		tb.Fatalf("ClientHello for %q: %v", serverName, err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(s, body); err != nil {
		tb.Fatalf("ClientHello for %q: %v", serverName, err)
	}
	return append(hdr, body...)
}

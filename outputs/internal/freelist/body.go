package freelist

import (
	"bytes"
	"sync"
)

// Body is an HTTP request body over a buffer that goes back to its free list
// only once the transport closed the body. net/http may go on reading a
// request body after RoundTrip returned (an early answer from the server, a
// timeout): a buffer put back when the call returned could be refilled by
// the next request while the previous one still sends from it.
type Body struct {
	*bytes.Reader
	once    sync.Once
	release func()
}

// NewBody reads b and calls release once, at the first Close.
func NewBody(b []byte, release func()) *Body {
	return &Body{Reader: bytes.NewReader(b), release: release}
}

// Close gives the buffer back; the transport calls it when done with the
// body.
func (b *Body) Close() error {
	b.once.Do(b.release)
	return nil
}

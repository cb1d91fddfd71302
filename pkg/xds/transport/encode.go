package transport

import (
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/runtime/protoiface"
)

// encodings shares the wire encoding of resources between views.
//
// go-control-plane's LinearCache encodes a resource lazily, once per cache,
// and a view has its own caches. Envoy sidecars have a view each (their
// inbound listeners are their own), while the clusters, endpoints and routes
// of a namespace are one message shared by all its sidecars (the generator
// keeps an untouched resource's identity), so a change to one of them would
// be encoded once per sidecar: a thousand sidecars, a thousand encodings of
// the same bytes, each kept by its view. LinearCache offers no way to hand
// it bytes, but it encodes through the protobuf runtime, which takes a
// message's own encoder when the message has one: the views hand their
// caches an encoded wrapper whose encoder is this table's single encoding.
//
// The table is keyed by the message's identity, not its content: hashing
// content would mean encoding it first. An entry lives while some view
// holds the message (views count their references in Apply and give them
// back when dropped), so memory is one encoding per distinct resource held.
type encodings struct {
	mu      sync.Mutex
	entries map[proto.Message]*encoded
	// marshals counts encodings actually computed, for Stats.
	marshals uint64
}

// EncodingStats describe the shared encodings of a Views.
type EncodingStats struct {
	// Held is the number of distinct resources some view holds.
	Held int
	// Marshals is how many times a resource was encoded since the start.
	Marshals uint64
}

// encoded is a resource as handed to a view's LinearCache. Everything but
// its encoding is the resource's own reflection; its encoding is computed
// once, when a first client needs it, and then returned as is to every
// cache that asks (the protobuf runtime calls encoders with no buffer, so
// no copy is made; the bytes are never written to afterwards).
type encoded struct {
	protoreflect.Message
	msg   proto.Message
	table *encodings
	refs  int // views whose caches hold it; guarded by table.mu

	once sync.Once
	b    []byte
	err  error
}

var encodedMethods = protoiface.Methods{
	Flags: protoiface.SupportMarshalDeterministic,
	Marshal: func(in protoiface.MarshalInput) (protoiface.MarshalOutput, error) {
		e := in.Message.(*encoded)
		b, err := e.bytes()
		if len(in.Buf) > 0 {
			b = append(in.Buf, b...)
		}
		return protoiface.MarshalOutput{Buf: b}, err
	},
	// The resource was checked when it was encoded.
	CheckInitialized: func(protoiface.CheckInitializedInput) (protoiface.CheckInitializedOutput, error) {
		return protoiface.CheckInitializedOutput{}, nil
	},
}

func (e *encoded) ProtoReflect() protoreflect.Message   { return e }
func (e *encoded) Interface() protoreflect.ProtoMessage { return e }
func (e *encoded) ProtoMethods() *protoiface.Methods    { return &encodedMethods }

// GetName names the resource for go-control-plane's messages.
func (e *encoded) GetName() string { return cache.GetResourceName(e.msg) }

func (e *encoded) bytes() ([]byte, error) {
	e.once.Do(func() {
		e.b, e.err = cache.MarshalResource(e.msg)
		e.b = e.b[:len(e.b):len(e.b)] // an append by a reader copies
		e.table.mu.Lock()
		e.table.marshals++
		e.table.mu.Unlock()
	})
	return e.b, e.err
}

// acquire returns the shared wrapper of m for one more view.
func (t *encodings) acquire(m proto.Message) *encoded {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[m]
	if !ok {
		e = &encoded{Message: m.ProtoReflect(), msg: m, table: t}
		if t.entries == nil {
			t.entries = map[proto.Message]*encoded{}
		}
		t.entries[m] = e
	}
	e.refs++
	return e
}

// release gives back one view's reference to m; the entry goes with the
// last. A cache that still holds the wrapper keeps its bytes for the
// responses it builds, but a view that gets the message again encodes it
// anew.
func (t *encodings) release(m proto.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[m]
	if e == nil {
		return
	}
	e.refs--
	if e.refs == 0 {
		delete(t.entries, m)
	}
}

func (t *encodings) stats() EncodingStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return EncodingStats{Held: len(t.entries), Marshals: t.marshals}
}

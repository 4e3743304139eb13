package rtgrpc

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/rtchain/rtchain/idempotency"
)

// A stored answer is an idempotency.Response: Status is statusBase plus
// the gRPC code (so that every store's check of an HTTP-like status
// holds), Body the reply's protobuf bytes, and Header the rest, under
// these names, with header metadata as "h:" entries and trailer metadata as
// "t:" entries (binary ones base64).
const (
	statusBase    = 200
	fieldType     = "Grpc-Type"    // the reply's message full name
	fieldMessage  = "Grpc-Message" // the status message
	fieldDetails  = "Grpc-Details" // the status proto, base64, when it has details
	headerPrefix  = "h:"
	trailerPrefix = "t:"
)

// capture is the ServerTransportStream of a first run: it keeps the
// header and trailer metadata the handler sets, and passes them on at once,
// or, in a transaction, only once it has committed (deliver).
type capture struct {
	real            grpc.ServerTransportStream // nil outside a server (tests)
	hold            bool
	mu              sync.Mutex
	header, trailer metadata.MD
}

func newCapture(ctx context.Context, hold bool) *capture {
	return &capture{real: grpc.ServerTransportStreamFromContext(ctx), hold: hold,
		header: metadata.MD{}, trailer: metadata.MD{}}
}

func (c *capture) Method() string {
	if c.real == nil {
		return ""
	}
	return c.real.Method()
}

// SetHeader implements grpc.ServerTransportStream.
func (c *capture) SetHeader(md metadata.MD) error {
	c.keep(c.header, md)
	if c.hold || c.real == nil {
		return nil
	}
	return c.real.SetHeader(md)
}

// SendHeader implements grpc.ServerTransportStream; in a transaction the
// header waits for the commit.
func (c *capture) SendHeader(md metadata.MD) error {
	c.keep(c.header, md)
	if c.hold || c.real == nil {
		return nil
	}
	return c.real.SendHeader(md)
}

// SetTrailer implements grpc.ServerTransportStream.
func (c *capture) SetTrailer(md metadata.MD) error {
	c.keep(c.trailer, md)
	if c.hold || c.real == nil {
		return nil
	}
	return c.real.SetTrailer(md)
}

func (c *capture) keep(into, md metadata.MD) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, vs := range md {
		into[k] = append(into[k], vs...)
	}
}

// deliver passes on what a transactional run held back, and returns err.
func (c *capture) deliver(err error) error {
	if c.hold && c.real != nil {
		if len(c.header) > 0 {
			_ = c.real.SetHeader(c.header)
		}
		if len(c.trailer) > 0 {
			_ = c.real.SetTrailer(c.trailer)
		}
	}
	return err
}

// encode is the stored form of an answer.
func encode(reply any, st *grpcstatus.Status, header, trailer metadata.MD, limit int64) (*idempotency.Response, error) {
	resp := &idempotency.Response{Status: statusBase + int(st.Code()), Header: http.Header{}}
	if st.Code() == codes.OK {
		msg, ok := reply.(proto.Message)
		if !ok {
			return nil, errors.New("the reply is not a protobuf message")
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		if err != nil {
			return nil, err
		}
		resp.Body = b
		resp.Header[fieldType] = []string{string(msg.ProtoReflect().Descriptor().FullName())}
	} else {
		resp.Header[fieldMessage] = []string{st.Message()}
		if len(st.Details()) > 0 {
			b, err := proto.Marshal(st.Proto())
			if err != nil {
				return nil, err
			}
			resp.Header[fieldDetails] = []string{base64.StdEncoding.EncodeToString(b)}
		}
	}
	for prefix, md := range map[string]metadata.MD{headerPrefix: header, trailerPrefix: trailer} {
		for k, vs := range md {
			if k == "set-cookie" {
				continue // the first run's caller's alone, never replayed
			}
			resp.Header[prefix+k] = encodeValues(k, vs)
		}
	}
	size := int64(len(resp.Body))
	for _, vs := range resp.Header {
		for _, v := range vs {
			size += int64(len(v))
		}
	}
	if size > limit {
		return &idempotency.Response{Status: resp.Status, NotStored: true}, nil
	}
	return resp, nil
}

func encodeValues(key string, vs []string) []string {
	if !strings.HasSuffix(key, "-bin") {
		return append([]string(nil), vs...)
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = base64.StdEncoding.EncodeToString([]byte(v))
	}
	return out
}

// decode replays a stored answer's metadata on ctx's stream, and returns
// its reply (nil for an error).
func decode(ctx context.Context, resp *idempotency.Response) (any, error) {
	code := codes.Code(resp.Status - statusBase)
	if resp.Status < statusBase || code > codes.Unauthenticated {
		return nil, fmt.Errorf("stored code %d out of range", resp.Status-statusBase)
	}
	header, trailer := metadata.Pairs(ReplayedKey, "true"), metadata.MD{}
	for k, vs := range resp.Header {
		var into metadata.MD
		name := k
		switch {
		case strings.HasPrefix(k, headerPrefix):
			into, name = header, k[len(headerPrefix):]
		case strings.HasPrefix(k, trailerPrefix):
			into, name = trailer, k[len(trailerPrefix):]
		default:
			continue
		}
		if strings.HasSuffix(name, "-bin") {
			for _, v := range vs {
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					return nil, fmt.Errorf("stored metadata %s: %w", name, err)
				}
				into.Append(name, string(b))
			}
			continue
		}
		into.Append(name, vs...)
	}
	_ = grpc.SetHeader(ctx, header)
	if len(trailer) > 0 {
		_ = grpc.SetTrailer(ctx, trailer)
	}
	if code != codes.OK {
		return nil, nil
	}
	names := resp.Header[fieldType]
	if len(names) != 1 {
		return nil, errors.New("stored answer without its message type")
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(names[0]))
	if err != nil {
		return nil, fmt.Errorf("stored answer of type %s: %w", names[0], err)
	}
	reply := mt.New().Interface()
	if err := proto.Unmarshal(resp.Body, reply); err != nil {
		return nil, fmt.Errorf("stored answer: %w", err)
	}
	return reply, nil
}

// statusErr is a stored answer's error: nil for OK.
func statusErr(resp *idempotency.Response) error {
	code := codes.Code(resp.Status - statusBase)
	if code == codes.OK {
		return nil
	}
	if d := resp.Header[fieldDetails]; len(d) == 1 {
		if b, err := base64.StdEncoding.DecodeString(d[0]); err == nil {
			var p status.Status
			if proto.Unmarshal(b, &p) == nil {
				return grpcstatus.FromProto(&p).Err()
			}
		}
	}
	var msg string
	if m := resp.Header[fieldMessage]; len(m) == 1 {
		msg = m[0]
	}
	return grpcstatus.Error(code, msg)
}

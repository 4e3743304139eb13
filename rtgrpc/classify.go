package rtgrpc

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// PushbackKey is the trailer a server names its wait in (gRFC A6), in
// milliseconds; a negative or malformed value says: do not retry.
const PushbackKey = "grpc-retry-pushback-ms"

// KeyMetadata is the metadata entry that carries a call's idempotency key.
const KeyMetadata = "idempotency-key"

// verdict is what the rules say of a failed attempt.
type verdict struct {
	retry bool
	// refusal: the server did not act on it (ResourceExhausted, or a
	// pushback): any method may be sent again.
	refusal bool
	// wait is the server's pushback, when hasWait.
	wait    time.Duration
	hasWait bool
}

// classify applies the rules to an attempt that failed with st, whose
// trailer is md; perTry reports that the attempt's own timeout fired (not
// the caller's deadline), and mayRepeat that the call may be sent again:
// it never left the client, or its method may be sent twice.
func (c *client) classify(st *status.Status, md metadata.MD, perTry, mayRepeat bool) verdict {
	wait, hasWait, stop := pushback(md)
	if stop {
		return verdict{}
	}
	v := verdict{wait: wait, hasWait: hasWait}
	code := st.Code()
	switch {
	case code == codes.ResourceExhausted && !clientSide(st),
		hasWait && (code == codes.Aborted || code == codes.Unavailable || code == codes.ResourceExhausted):
		// A refusal: nothing ran. An Aborted with a pushback is rtgrpc's
		// server saying "the first request with this key is running".
		v.retry, v.refusal = true, true
	case code == codes.Unavailable:
		v.retry = mayRepeat
	case code == codes.DeadlineExceeded:
		v.retry = perTry && mayRepeat
	case c.o.Retryable != nil && c.o.Retryable(st):
		v.retry = mayRepeat
	}
	return v
}

// clientSide reports a ResourceExhausted that grpc-go raised itself (a
// message over the size limit): sending it again changes nothing.
func clientSide(st *status.Status) bool {
	m := st.Message()
	return strings.Contains(m, "larger than max") || strings.HasPrefix(m, "grpc: ")
}

// pushback reads the server's grpc-retry-pushback-ms: its wait, whether
// there is one, and whether it says to stop (negative, malformed, or sent
// more than once).
func pushback(md metadata.MD) (wait time.Duration, ok, stop bool) {
	vs := md.Get(PushbackKey)
	switch len(vs) {
	case 0:
		return 0, false, false
	case 1:
	default:
		return 0, false, true
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
	if err != nil || ms < 0 || ms > int64(365*24*time.Hour/time.Millisecond) {
		return 0, false, true
	}
	return time.Duration(ms) * time.Millisecond, true, false
}

// safeMethods caches what the descriptors say of each method.
var safeMethods sync.Map // full method → bool

// healthService is the standard health protocol's service. Its methods
// (Check, List, Watch) only read a server's health, but health.proto
// declares no idempotency_level, so that its descriptor alone would leave a
// health check that met Unavailable unretried.
const healthService = "grpc.health.v1.Health"

// knownIdempotent reports whether fullMethod may be sent twice by what is
// known of it: it is the health protocol's, or its descriptor, among the
// registered files, declares it IDEMPOTENT or NO_SIDE_EFFECTS.
func knownIdempotent(fullMethod string) bool {
	if v, ok := safeMethods.Load(fullMethod); ok {
		return v.(bool)
	}
	safe := lookupIdempotent(fullMethod)
	safeMethods.Store(fullMethod, safe)
	return safe
}

func lookupIdempotent(fullMethod string) bool {
	svc, name, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return false
	}
	if svc == healthService && name != "" {
		return true
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return false
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return false
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return false
	}
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	if !ok {
		return false
	}
	switch opts.GetIdempotencyLevel() {
	case descriptorpb.MethodOptions_IDEMPOTENT, descriptorpb.MethodOptions_NO_SIDE_EFFECTS:
		return true
	}
	return false
}

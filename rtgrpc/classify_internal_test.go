package rtgrpc

import (
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	_ "google.golang.org/protobuf/types/known/emptypb" // google/protobuf/empty.proto, registered
)

// A service whose methods declare their idempotency_level, registered as
// generated code would register it.
func init() {
	level := func(l descriptorpb.MethodOptions_IdempotencyLevel) *descriptorpb.MethodOptions {
		return &descriptorpb.MethodOptions{IdempotencyLevel: l.Enum()}
	}
	method := func(name string, o *descriptorpb.MethodOptions) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{Name: proto.String(name), InputType: proto.String(".google.protobuf.Empty"),
			OutputType: proto.String(".google.protobuf.Empty"), Options: o}
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String("rtgrpc/levels_test.proto"), Package: proto.String("rtgrpc.test"), Syntax: proto.String("proto3"),
		Dependency: []string{"google/protobuf/empty.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{Name: proto.String("Levels"), Method: []*descriptorpb.MethodDescriptorProto{
			method("Get", level(descriptorpb.MethodOptions_NO_SIDE_EFFECTS)),
			method("Put", level(descriptorpb.MethodOptions_IDEMPOTENT)),
			method("Pay", level(descriptorpb.MethodOptions_IDEMPOTENCY_UNKNOWN)),
			method("Plain", nil),
		}}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	if err := protoregistry.GlobalFiles.RegisterFile(fd); err != nil {
		panic(err)
	}
}

func TestKnownIdempotent(t *testing.T) {
	for method, want := range map[string]bool{
		"/grpc.health.v1.Health/Check":  true, // health.proto declares nothing
		"/grpc.health.v1.Health/Watch":  true,
		"/grpc.health.v1.Health/":       false,
		"/grpc.health.v1.Healthy/Check": false,
		"/rtgrpc.test.Levels/Get":       true,
		"/rtgrpc.test.Levels/Put":       true,
		"/rtgrpc.test.Levels/Pay":       false,
		"/rtgrpc.test.Levels/Plain":     false,
		"/rtgrpc.test.Levels/None":      false,
		"/no.Such/Service":              false,
		"malformed":                     false,
	} {
		if got := knownIdempotent(method); got != want {
			t.Errorf("%s: %v, want %v", method, got, want)
		}
		if got := knownIdempotent(method); got != want {
			t.Errorf("%s, cached: %v, want %v", method, got, want)
		}
	}
}

func TestPushbackParsing(t *testing.T) {
	for _, c := range []struct {
		values   []string
		wait     time.Duration
		ok, stop bool
	}{
		{nil, 0, false, false},
		{[]string{"250"}, 250 * time.Millisecond, true, false},
		{[]string{" 0 "}, 0, true, false},
		{[]string{"-1"}, 0, false, true},
		{[]string{"1.5"}, 0, false, true},
		{[]string{"99999999999999999999"}, 0, false, true},
		{[]string{"1", "2"}, 0, false, true},
	} {
		md := metadata.MD{}
		if c.values != nil {
			md[PushbackKey] = c.values
		}
		wait, ok, stop := pushback(md)
		if wait != c.wait || ok != c.ok || stop != c.stop {
			t.Errorf("%q: %v %v %v, want %v %v %v", c.values, wait, ok, stop, c.wait, c.ok, c.stop)
		}
	}
}

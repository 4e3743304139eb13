package bodyreplay_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/rtchain/rtchain/bodyreplay"
)

func Example() {
	// A body that can only be streamed: no GetBody, not an io.Seeker.
	upload := io.NopCloser(struct{ io.Reader }{strings.NewReader("hello, world")})
	req, _ := http.NewRequest(http.MethodPut, "http://api.example/", upload)

	b := bodyreplay.New(req, 1<<20)
	defer b.Close()

	first, _ := b.Next()
	part := make([]byte, 5)
	_, _ = io.ReadFull(first, part) // the server answered 503 after 5 bytes
	fmt.Printf("attempt 1 sent %q\n", part)

	if b.Seal() { // the old attempt reads nothing more
		second, _ := b.Next()
		all, _ := io.ReadAll(second)
		fmt.Printf("attempt 2 sent %q\n", all)
		_ = second.Close()
	}
	_ = first.Close()
	// Output:
	// attempt 1 sent "hello"
	// attempt 2 sent "hello, world"
}

func ExampleNewWith() {
	// A 3 MiB stream: 1 MiB is kept in memory, the rest in a temporary file
	// (unlinked at once, closed with the replay).
	upload := io.NopCloser(io.LimitReader(zeros{}, 3<<20))
	req, _ := http.NewRequest(http.MethodPut, "http://api.example/", upload)

	b := bodyreplay.NewWith(req, bodyreplay.Options{Limit: 1 << 20, SpillLimit: 64 << 20})
	defer b.Close()

	first, _ := b.Next()
	n, _ := io.Copy(io.Discard, first) // the server read it all, then answered 503
	fmt.Println("attempt 1 sent", n, "bytes")

	if b.Seal() {
		second, _ := b.Next()
		n, _ := io.Copy(io.Discard, second)
		fmt.Println("attempt 2 sent", n, "bytes")
		_ = second.Close()
	}
	_ = first.Close()
	// Output:
	// attempt 1 sent 3145728 bytes
	// attempt 2 sent 3145728 bytes
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

package bench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkFileUpload is a 256 MiB PUT from an *os.File with its length
// set, answered 200: the upload throughput each library leaves. A file the
// transport receives as itself goes out through the kernel's sendfile; one
// hidden behind a wrapper is copied through user space.
func BenchmarkFileUpload(b *testing.B) {
	const size = 256 << 20
	path := filepath.Join(b.TempDir(), "upload")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, io.LimitReader(pattern{}, size)); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if n != size {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	b.Cleanup(srv.Close)
	for _, lib := range Libs {
		b.Run(lib.Name, func(b *testing.B) {
			rt := lib.Wrap(newBase(b), true)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				req, _ := http.NewRequest(http.MethodPut, srv.URL, f)
				req.ContentLength = size
				code, err := roundTrip(b, rt, req)
				if err != nil || code != http.StatusOK {
					b.Fatal(code, err)
				}
			}
		})
	}
}

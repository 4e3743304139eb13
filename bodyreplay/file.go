package bodyreplay

import (
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
)

// The file mode: a body that is a regular *os.File goes to the first attempt
// as itself, so that the transport can hand it to the kernel (sendfile)
// instead of copying it through a wrapper. Each retry gets a handle of its
// own on the same file, with an offset of its own: an older attempt that
// the transport is still reading cannot disturb it, and nothing has to wait
// for that read to end.

// asFile reports whether body is a regular file that can be opened again,
// and prepares b for it: the spare handle it keeps is what retries reopen
// from (the caller's own handle is the first attempt's, and the transport
// closes it).
func asFile(body io.ReadCloser, b *Body) bool {
	f, ok := body.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return false
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return false
	}
	spare, err := reopen(f, info)
	if err != nil {
		return false
	}
	b.spare, b.start = spare, off
	return true
}

// reopen opens f's file again for reading, as a new open file (its own
// offset), and checks that it is the same file. On Linux it goes through
// /proc/self/fd, which finds a file that was renamed or removed since it
// was opened; elsewhere, and without /proc, through f's name.
func reopen(f *os.File, info os.FileInfo) (*os.File, error) {
	var g *os.File
	err := errors.New("bodyreplay: no file descriptor")
	if runtime.GOOS == "linux" {
		if rc, e := f.SyscallConn(); e == nil {
			_ = rc.Control(func(fd uintptr) {
				g, err = os.Open("/proc/self/fd/" + strconv.FormatUint(uint64(fd), 10))
			})
		}
	}
	if err != nil {
		g, err = os.Open(f.Name())
	}
	if err != nil {
		return nil, err
	}
	if gi, err := g.Stat(); err != nil || !os.SameFile(info, gi) {
		_ = g.Close()
		return nil, errors.New("bodyreplay: the file changed identity")
	}
	return g, nil
}

// Reopen opens f's file again for reading, as a new open file with an
// offset of its own, set to offset, and checks that it is the same file
// (on Linux through /proc/self/fd, which finds a file renamed or removed
// since it was opened). It is how each attempt of a request whose body is a
// file gets a handle of its own: the transport may still be reading, or
// have closed, the others.
func Reopen(f *os.File, offset int64) (*os.File, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	g, err := reopen(f, info)
	if err != nil {
		return nil, err
	}
	if _, err := g.Seek(offset, io.SeekStart); err != nil {
		_ = g.Close()
		return nil, err
	}
	return g, nil
}

// nextFile returns a retry's own handle on the file, at the body's start.
func (b *Body) nextFile() (io.ReadCloser, error) {
	f, err := Reopen(b.spare, b.start)
	if err != nil {
		return nil, errors.Join(errors.New("bodyreplay: reopening the body's file failed"), err)
	}
	return f, nil
}

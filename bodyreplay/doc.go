// Package bodyreplay makes an HTTP request body readable once per attempt, so
// that a retry, or a hedge sent beside the first attempt, sends exactly the
// bytes the first attempt sent, in bounded memory.
//
// New (memory only) and NewWith (memory, then a temporary file) pick the
// cheapest way the body allows, in this order:
//
//   - req.GetBody is set (http.NewRequest sets it for *bytes.Buffer,
//     *bytes.Reader and *strings.Reader): each retry gets a fresh copy from
//     it; nothing is kept.
//   - req.Body is a regular *os.File: the first attempt gets it as it is, so
//     that net/http can hand it to the kernel (sendfile) rather than copy it
//     through a wrapper; each retry gets a handle of its own on the same
//     file, opened again and set to the offset the file had when New was
//     called. An older attempt that the transport is still reading cannot
//     move a retry's offset. Nothing is kept. (net/http sends a file with
//     sendfile only when the request's ContentLength is set; with an unknown
//     length it reads a byte first and copies the rest.)
//   - req.Body is another io.Seeker: a retry rewinds it to the offset it had
//     when New was called; nothing is kept.
//   - Otherwise the bytes are recorded while the first attempt streams them:
//     up to Options.Limit in memory, then up to Options.SpillLimit more in a
//     temporary file. A retry replays the record and then goes on reading
//     the caller's body where the first attempt stopped. Once more than both
//     limits together has been read, or the file fails (a full disk), the
//     record is dropped and no retry is possible; the attempt in flight goes
//     on intact.
//   - A body with a known length above both limits together, or a negative
//     limit, is streamed once and never recorded; it can still be sent again
//     if no attempt has read any of it yet (the connection was refused, say).
//
// The record's file is made only for a body that passes the memory limit,
// unlinked as soon as it is made where the system allows it (so that
// nothing is left on disk even if the process dies), and closed with the
// caller's body, when the replay is over.
//
// NewShared serves attempts that run at once, as hedged requests do: each
// reader that Shared.Next returns reads the whole body from its start while
// the others read, and none cuts another off. The kinds of body are handled
// as above, but for a seeker, which is recorded (its one offset cannot be
// shared). The record is one for all the readers, filled once from the
// caller's body by the reader ahead, within the same two limits; past them,
// that reader reads on alone, a reader behind fails with ErrNotReplayable
// rather than skip the bytes no longer kept, and Next refuses new readers.
// A body whose known length is past both limits is refused at once.
//
// Entry points: New and NewWith, Body.Next (the body of the next attempt), Bind (tie an
// attempt's body to the attempt's context), Body.Seal (stop the current
// attempt, if another is possible, and report whether it is), Body.Err (an
// error from the caller's own body), Body.Close; NewShared, Shared.Next (one
// more reader of the body), Shared.Close; and Reopen (a handle of its own
// on a body's file, for an attempt that runs beside another).
//
// A RoundTripper may close, or even go on reading, a request body after its
// RoundTrip has returned, and the caller's body may stall. Nothing but an
// attempt body's own Read ever waits on the caller's body, and that wait
// ends when the attempt body is closed: Seal and Next return at once. Seal
// cuts the previous attempt off only when a next one can be given the whole
// body; if not, the attempt in flight goes on untouched, since its response
// is the one the caller will get. Bytes that a cut-off attempt's read
// returns after Seal are recorded for the next attempt, never lost, and a
// read never takes more than the record has room for, so a read in flight
// cannot make a promised replay impossible. The caller's body is closed
// exactly once, when Close has been called and the last attempt's body has
// been closed.
package bodyreplay

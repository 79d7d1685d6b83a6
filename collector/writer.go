package collector

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// statusRecorder remembers the status a handler wrote. The writer a handler gets from the
// Limiter is one of 32 compositions of it (see wrap), chosen by the optional interfaces
// that the server's own writer has, as client_golang's promhttp does: it claims exactly those
// (http.Flusher, http.Hijacker, io.ReaderFrom, http.Pusher and the deprecated
// http.CloseNotifier, which promhttp keeps too), never one the server lacks (an
// HTTP/2 writer cannot be hijacked, and a type check must say so). Unwrap lets
// http.ResponseController reach the server's writer for the rest (deadlines, full duplex).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	// An informational 1xx (103 Early Hints) comes before the real status: keep waiting for it.
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// One type per optional interface, each adding its one method to the recorder.
type (
	flusher    struct{ *statusRecorder }
	hijacker   struct{ *statusRecorder }
	readerFrom struct{ *statusRecorder }
	pusher     struct{ *statusRecorder }
	// closeNotifierRec is named apart from the closeNotifier interface it implements.
	closeNotifierRec struct{ *statusRecorder }
)

func (f flusher) Flush() {
	if f.status == 0 {
		f.status = http.StatusOK // a flush sends the header
	}
	f.ResponseWriter.(http.Flusher).Flush()
}

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.ResponseWriter.(http.Hijacker).Hijack()
}

func (r readerFrom) ReadFrom(src io.Reader) (int64, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.(io.ReaderFrom).ReadFrom(src)
}

func (p pusher) Push(target string, opts *http.PushOptions) error {
	return p.ResponseWriter.(http.Pusher).Push(target, opts)
}

func (c closeNotifierRec) CloseNotify() <-chan bool {
	return c.ResponseWriter.(closeNotifier).CloseNotify()
}

const (
	hasFlusher = 1 << iota
	hasHijacker
	hasReaderFrom
	hasPusher
	hasCloseNotifier
)

// compositions[mask] builds the writer that has exactly the interfaces of mask.
var compositions = [32]func(*statusRecorder) http.ResponseWriter{
	func(s *statusRecorder) http.ResponseWriter { return s },
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
		}{s, flusher{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Hijacker
		}{s, hijacker{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			http.Hijacker
		}{s, flusher{s}, hijacker{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			io.ReaderFrom
		}{s, readerFrom{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			io.ReaderFrom
		}{s, flusher{s}, readerFrom{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Hijacker
			io.ReaderFrom
		}{s, hijacker{s}, readerFrom{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			http.Hijacker
			io.ReaderFrom
		}{s, flusher{s}, hijacker{s}, readerFrom{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Pusher
		}{s, pusher{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			http.Pusher
		}{s, flusher{s}, pusher{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Hijacker
			http.Pusher
		}{s, hijacker{s}, pusher{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			http.Hijacker
			http.Pusher
		}{s, flusher{s}, hijacker{s}, pusher{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			io.ReaderFrom
			http.Pusher
		}{s, readerFrom{s}, pusher{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			io.ReaderFrom
			http.Pusher
		}{s, flusher{s}, readerFrom{s}, pusher{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Hijacker
			io.ReaderFrom
			http.Pusher
		}{s, hijacker{s}, readerFrom{s}, pusher{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			http.Hijacker
			io.ReaderFrom
			http.Pusher
		}{s, flusher{s}, hijacker{s}, readerFrom{s}, pusher{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			closeNotifier
		}{s, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			closeNotifier
		}{s, flusher{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Hijacker
			closeNotifier
		}{s, hijacker{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			http.Hijacker
			closeNotifier
		}{s, flusher{s}, hijacker{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			io.ReaderFrom
			closeNotifier
		}{s, readerFrom{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			io.ReaderFrom
			closeNotifier
		}{s, flusher{s}, readerFrom{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Hijacker
			io.ReaderFrom
			closeNotifier
		}{s, hijacker{s}, readerFrom{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			http.Hijacker
			io.ReaderFrom
			closeNotifier
		}{s, flusher{s}, hijacker{s}, readerFrom{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Pusher
			closeNotifier
		}{s, pusher{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			http.Pusher
			closeNotifier
		}{s, flusher{s}, pusher{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Hijacker
			http.Pusher
			closeNotifier
		}{s, hijacker{s}, pusher{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			http.Hijacker
			http.Pusher
			closeNotifier
		}{s, flusher{s}, hijacker{s}, pusher{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			io.ReaderFrom
			http.Pusher
			closeNotifier
		}{s, readerFrom{s}, pusher{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			io.ReaderFrom
			http.Pusher
			closeNotifier
		}{s, flusher{s}, readerFrom{s}, pusher{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Hijacker
			io.ReaderFrom
			http.Pusher
			closeNotifier
		}{s, hijacker{s}, readerFrom{s}, pusher{s}, closeNotifierRec{s}}
	},
	func(s *statusRecorder) http.ResponseWriter {
		return struct {
			*statusRecorder
			http.Flusher
			http.Hijacker
			io.ReaderFrom
			http.Pusher
			closeNotifier
		}{s, flusher{s}, hijacker{s}, readerFrom{s}, pusher{s}, closeNotifierRec{s}}
	},
}

// wrap returns the recorder composed with exactly the interfaces of the writer it records.
func (s *statusRecorder) wrap() http.ResponseWriter {
	mask := 0
	if _, ok := s.ResponseWriter.(http.Flusher); ok {
		mask |= hasFlusher
	}
	if _, ok := s.ResponseWriter.(http.Hijacker); ok {
		mask |= hasHijacker
	}
	if _, ok := s.ResponseWriter.(io.ReaderFrom); ok {
		mask |= hasReaderFrom
	}
	if _, ok := s.ResponseWriter.(http.Pusher); ok {
		mask |= hasPusher
	}
	if _, ok := s.ResponseWriter.(closeNotifier); ok {
		mask |= hasCloseNotifier
	}
	return compositions[mask](s)
}

// closeNotifier is http.CloseNotifier, deprecated since Go 1.11 (Request.Context replaces
// it) yet still implemented by net/http's writers, HTTP/1 and HTTP/2, and kept by promhttp's
// delegator: a handler written against it must find it behind the Limiter too.
//
//lint:ignore SA1019 the wrapper must keep every interface of the writer it wraps.
type closeNotifier = http.CloseNotifier

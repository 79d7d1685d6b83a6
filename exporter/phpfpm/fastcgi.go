package phpfpm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// The part of FastCGI 1.0 (https://fastcgi-archives.github.io/FastCGI_Specification.html)
// that one status request needs: a responder request on its own connection, without
// keep-alive, whose STDOUT is read until END_REQUEST. PHP-FPM answers its status path
// itself, before any script runs, so no web server is needed between it and the exporter.
const (
	fcgiVersion = 1

	typeBeginRequest = 1
	typeEndRequest   = 3
	typeParams       = 4
	typeStdin        = 5
	typeStdout       = 6
	typeStderr       = 7

	roleResponder = 1

	// requestID is the only request on the connection (id 0 is for management records).
	requestID = 1

	headerLen     = 8
	maxContentLen = 65535
)

// protocolStatus names END_REQUEST's protocolStatus values other than REQUEST_COMPLETE.
var protocolStatus = map[byte]string{
	1: "the server cannot multiplex connections",
	2: "the server is overloaded",
	3: "the server does not know the responder role",
}

// fcgiResponse is a CGI response read from FastCGI: the status from its Status header
// (200 without one, as CGI says), its headers and its body.
type fcgiResponse struct {
	Status int
	Header textproto.MIMEHeader
	Body   []byte
}

// fcgiGet sends one GET for path?query to the FastCGI server at the other end of conn and
// reads its response, at most maxBytes of records in all. It stops early when ctx
// ends, by expiring the connection's deadline.
func fcgiGet(ctx context.Context, conn net.Conn, path, query string, maxBytes int64) (*fcgiResponse, error) {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	requestURI := path
	if query != "" {
		requestURI += "?" + query
	}
	// PHP-FPM matches pm.status_path against the script name it derives from these; the
	// file names need not exist, since the status page is answered before any file is opened.
	params := [][2]string{
		{"GATEWAY_INTERFACE", "CGI/1.1"},
		{"SERVER_SOFTWARE", "poolwatch_exporter"},
		{"SERVER_PROTOCOL", "HTTP/1.1"},
		{"REQUEST_METHOD", "GET"},
		{"SCRIPT_NAME", path},
		{"SCRIPT_FILENAME", path},
		{"DOCUMENT_URI", path},
		{"REQUEST_URI", requestURI},
		{"QUERY_STRING", query},
	}
	var req bytes.Buffer
	writeRecord(&req, typeBeginRequest, []byte{0, roleResponder, 0 /* flags: close when done */, 0, 0, 0, 0, 0})
	var p bytes.Buffer
	for _, kv := range params {
		writePair(&p, kv[0], kv[1])
	}
	if p.Len() > maxContentLen {
		return nil, fmt.Errorf("FastCGI params of %d bytes do not fit one record", p.Len())
	}
	writeRecord(&req, typeParams, p.Bytes())
	writeRecord(&req, typeParams, nil) // end of params
	writeRecord(&req, typeStdin, nil)  // end of an empty body
	if _, err := conn.Write(req.Bytes()); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("sending FastCGI request: %w", err))
	}

	stdout, err := readResponse(bufio.NewReader(conn), maxBytes)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	return parseCGI(stdout)
}

// ctxErr prefers the context's error, which says why the connection's deadline expired.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

func writeRecord(w *bytes.Buffer, typ byte, content []byte) {
	padding := (8 - len(content)%8) % 8
	w.Write([]byte{fcgiVersion, typ, requestID >> 8, requestID & 0xff,
		byte(len(content) >> 8), byte(len(content)), byte(padding), 0})
	w.Write(content)
	w.Write(make([]byte, padding))
}

// writePair encodes a name-value pair: each length in one byte below 128, else in four with
// the high bit set.
func writePair(w *bytes.Buffer, name, value string) {
	for _, n := range []int{len(name), len(value)} {
		if n < 128 {
			w.WriteByte(byte(n))
		} else {
			_ = binary.Write(w, binary.BigEndian, uint32(n)|1<<31)
		}
	}
	w.WriteString(name)
	w.WriteString(value)
}

// errTooLarge is wrapped when the response passes the byte limit.
var errTooLarge = errors.New("FastCGI response too large")

// readResponse reads records until END_REQUEST and returns the STDOUT stream. STDERR (PHP's
// warnings), management records and padding are read and dropped, but every byte read counts
// towards maxBytes like STDOUT's, so that a server cannot make the exporter read without
// bound whatever records it sends.
func readResponse(r io.Reader, maxBytes int64) ([]byte, error) {
	var stdout bytes.Buffer
	var total int64
	header := make([]byte, headerLen)
	for {
		if _, err := io.ReadFull(r, header); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("FastCGI connection closed before END_REQUEST")
			}
			return nil, fmt.Errorf("reading FastCGI record: %w", err)
		}
		if header[0] != fcgiVersion {
			return nil, fmt.Errorf("FastCGI record of version %d, want %d: not a FastCGI server?", header[0], fcgiVersion)
		}
		typ := header[1]
		id := int(header[2])<<8 | int(header[3])
		contentLen := int64(header[4])<<8 | int64(header[5])
		paddingLen := int64(header[6])
		total += headerLen + contentLen + paddingLen
		if total > maxBytes {
			return nil, fmt.Errorf("%w: more than %d bytes", errTooLarge, maxBytes)
		}
		content := make([]byte, contentLen+paddingLen)
		if _, err := io.ReadFull(r, content); err != nil {
			return nil, fmt.Errorf("reading FastCGI record: %w", err)
		}
		content = content[:contentLen]
		if id != requestID {
			// A management record (id 0) or another request's: not ours.
			continue
		}
		switch typ {
		case typeStdout:
			stdout.Write(content)
		case typeStderr:
		case typeEndRequest:
			if len(content) < 8 {
				return nil, fmt.Errorf("FastCGI END_REQUEST of %d bytes, want 8", len(content))
			}
			if s := content[4]; s != 0 {
				reason, ok := protocolStatus[s]
				if !ok {
					reason = "protocol status " + strconv.Itoa(int(s))
				}
				return nil, fmt.Errorf("FastCGI request refused: %s", reason)
			}
			return stdout.Bytes(), nil
		default:
			return nil, fmt.Errorf("unexpected FastCGI record type %d", typ)
		}
	}
}

// parseCGI splits a CGI response into its headers and body (RFC 3875 section 6): header
// lines up to an empty line, the status in a "Status: 404 Not Found" header.
func parseCGI(out []byte) (*fcgiResponse, error) {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(out)))
	header, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("reading the CGI headers of the FastCGI response: %w", err)
	}
	resp := &fcgiResponse{Status: 200, Header: header}
	if s := header.Get("Status"); s != "" {
		code, _, _ := strings.Cut(strings.TrimSpace(s), " ")
		n, err := strconv.Atoi(code)
		if err != nil || n < 100 || n > 999 {
			return nil, fmt.Errorf("CGI Status header %q is not a status code", s)
		}
		resp.Status = n
	}
	resp.Body, err = io.ReadAll(tp.R)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

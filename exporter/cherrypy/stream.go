package cherrypy

import (
	"encoding/json"
	"errors"
	"fmt"
)

// walker reads a JSON document one token at a time, so that no value (a 10 MB entry of a
// hostile page included) is ever held whole: memory stays at the decoder's small buffer.
type walker struct {
	dec *json.Decoder
	// depth counts the objects and arrays open, which json.Decoder.Token does not bound
	// (json.Unmarshal stops at 10000): a page of 10 MB of "[" would grow its stack to
	// ten million levels, hundreds of megabytes.
	depth *int
}

// maxDepth is encoding/json's own nesting limit, so that a page refused by json.Unmarshal
// is refused here too; cpstats needs 4 levels.
const maxDepth = 10000

func newWalker(dec *json.Decoder) walker { return walker{dec: dec, depth: new(int)} }

// next is dec.Token with the nesting bounded.
func (w walker) next() (json.Token, error) {
	tok, err := w.dec.Token()
	switch tok {
	case json.Delim('{'), json.Delim('['):
		if *w.depth++; *w.depth > maxDepth {
			return nil, fmt.Errorf("nested more than %d levels deep", maxDepth)
		}
	case json.Delim('}'), json.Delim(']'):
		*w.depth--
	}
	return tok, err
}

// typeError is a value of the wrong type: the entry it is in is bad, the document is not,
// and the walker has consumed the value, so reading goes on. Any other error is fatal.
type typeError struct{ msg string }

func (e *typeError) Error() string { return e.msg }

func wrongType(format string, args ...any) error { return &typeError{fmt.Sprintf(format, args...)} }

func isTypeError(err error) bool {
	var t *typeError
	var u *json.UnmarshalTypeError // a number beyond float64, from Token
	return errors.As(err, &t) || errors.As(err, &u)
}

// token returns the next token, turning a number beyond float64 into a typeError.
func (w walker) token() (json.Token, error) {
	tok, err := w.next()
	var u *json.UnmarshalTypeError
	if errors.As(err, &u) {
		return nil, &typeError{err.Error()}
	}
	return tok, err
}

// object walks the object at the reader's position, calling member for each key with the
// reader at its value; member must consume the value. A value that is not an object is
// consumed and reported as a typeError; so is the first typeError of a member, once the
// whole object is consumed. null is no object and no error (as for a Go map or struct).
func (w walker) object(member func(key string) error) error {
	tok, err := w.token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('{') {
		if err := w.rest(tok); err != nil {
			return err
		}
		return wrongType("want an object, got %s", kind(tok))
	}
	var first error
	for w.dec.More() {
		tok, err := w.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if err := member(key); err != nil {
			if !isTypeError(err) {
				return err
			}
			if first == nil {
				first = err
			}
		}
	}
	if _, err := w.token(); err != nil { // the closing brace
		return err
	}
	return first
}

// skip consumes the value at the reader's position. A number beyond float64 is no error
// here: the value is not used (as json.Unmarshal ignores a field it does not convert).
func (w walker) skip() error {
	tok, err := w.token()
	if err != nil {
		if isTypeError(err) {
			return nil // Token consumed the number all the same
		}
		return err
	}
	return w.rest(tok)
}

// rest consumes what follows tok up to the end of the value it starts.
func (w walker) rest(tok json.Token) error {
	depth := 0
	for {
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
		var err error
		// A too large number deep inside a value being skipped is no concern of ours.
		if tok, err = w.next(); err != nil && !isTypeError(err) {
			return err
		}
	}
}

// scalar returns the scalar value at the reader's position (nil for null); a composite value
// is consumed and reported as a typeError.
func (w walker) scalar(name string) (json.Token, error) {
	tok, err := w.token()
	if err != nil {
		if isTypeError(err) {
			return nil, wrongType("%q: %v", name, err)
		}
		return nil, err
	}
	if d, ok := tok.(json.Delim); ok {
		if err := w.rest(d); err != nil {
			return nil, err
		}
		return nil, wrongType("%q: want a scalar, got %s", name, kind(d))
	}
	return tok, nil
}

// number reads a number (or null, leaving *dst nil).
func (w walker) number(name string, dst **float64) error {
	tok, err := w.scalar(name)
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case nil:
		*dst = nil
	case float64:
		*dst = &v
	default:
		return wrongType("%q: want a number, got %s", name, kind(tok))
	}
	return nil
}

// text reads a string (or null, leaving *dst nil).
func (w walker) text(name string, dst **string) error {
	tok, err := w.scalar(name)
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case nil:
		*dst = nil
	case string:
		*dst = &v
	default:
		return wrongType("%q: want a string, got %s", name, kind(tok))
	}
	return nil
}

// boolean reads true or false (or null, leaving *dst nil).
func (w walker) boolean(name string, dst **bool) error {
	tok, err := w.scalar(name)
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case nil:
		*dst = nil
	case bool:
		*dst = &v
	default:
		return wrongType("%q: want true or false, got %s", name, kind(tok))
	}
	return nil
}

// kind names a token's JSON type for an error message, never its (maybe huge) value.
func kind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

package exporter

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"unicode/utf8"
)

// MaxLogValueBytes bounds every string a log line of the exporter carries. Targets, module
// names, error texts and status lines come from requests and targets, which may be hostile:
// a 1 MB target parameter must cost the log a few hundred bytes, not a megabyte per request.
const MaxLogValueBytes = 256

// Truncate shortens s to at most max bytes (on a UTF-8 boundary) and says how much it cut.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "...[" + strconv.Itoa(len(s)-cut) + " more bytes]"
}

// BoundedLogger returns a logger that writes through logger's handler with every message and
// attribute value truncated to [MaxLogValueBytes]: strings, errors, Stringers and any other
// value, also inside groups and in attributes added by With. The exporter's handlers wrap
// the logger they are given with it, so no path can write an unbounded value.
func BoundedLogger(logger *slog.Logger) *slog.Logger {
	if _, ok := logger.Handler().(boundedHandler); ok {
		return logger
	}
	return slog.New(boundedHandler{logger.Handler()})
}

type boundedHandler struct{ h slog.Handler }

func (b boundedHandler) Enabled(ctx context.Context, l slog.Level) bool { return b.h.Enabled(ctx, l) }

func (b boundedHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Truncate(r.Message, MaxLogValueBytes), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(boundAttr(a))
		return true
	})
	return b.h.Handle(ctx, out)
}

func (b boundedHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	bounded := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		bounded[i] = boundAttr(a)
	}
	return boundedHandler{b.h.WithAttrs(bounded)}
}

func (b boundedHandler) WithGroup(name string) slog.Handler {
	return boundedHandler{b.h.WithGroup(Truncate(name, MaxLogValueBytes))}
}

func boundAttr(a slog.Attr) slog.Attr {
	a.Key = Truncate(a.Key, MaxLogValueBytes)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(Truncate(v.String(), MaxLogValueBytes))
	case slog.KindGroup:
		group := v.Group()
		bounded := make([]slog.Attr, len(group))
		for i, g := range group {
			bounded[i] = boundAttr(g)
		}
		a.Value = slog.GroupValue(bounded...)
	case slog.KindAny:
		// Errors, Stringers, slices, whatever: bounded by their text, which is what the
		// handler would have written anyway.
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		default:
			s = fmt.Sprint(x)
		}
		a.Value = slog.StringValue(Truncate(s, MaxLogValueBytes))
	default:
		a.Value = v
	}
	return a
}

// WarnSkipped logs what a source left out of one read in one line: how many entries, and the
// first reason. A page with thousands of bad entries must not write thousands of lines.
func WarnSkipped(logger *slog.Logger, msg string, skipped []error) {
	if len(skipped) == 0 {
		return
	}
	logger.Warn(msg, "count", len(skipped), "first_err", skipped[0])
}

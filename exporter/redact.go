package exporter

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// RedactTarget returns target fit for a log line: a password in it is replaced by "xxxxx",
// and so is every query value, since some servers take their secret there (Puma's control
// token, ?token=...). A target that is no URL is not logged at all.
func RedactTarget(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "(unparsable target)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q.Set(k, "xxxxx")
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// RedactError returns err's text fit for a log line: net/http puts the whole request URL in
// its errors (with the password already masked, but not a token in the query), so that URL
// is redacted as [RedactTarget] does.
func RedactError(err error) string {
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != "" {
		msg = redactIn(msg, ue.URL)
	}
	return msg
}

// redactIn replaces target in msg by [RedactTarget]'s form of it, wherever it appears as
// written, %q-quoted (url.Error and most "target %q" messages quote it, which escapes a `"`,
// a `\` or a non-printable character and would hide it from a plain search), or with only its
// password masked (url.URL.Redacted, which leaves a token in the query).
func redactIn(msg, target string) string {
	safe := RedactTarget(target)
	forms := []string{target, quoted(target)}
	if u, err := url.Parse(target); err == nil {
		forms = append(forms, u.Redacted(), quoted(u.Redacted()), u.String(), quoted(u.String()))
	}
	var pairs []string
	for i, f := range forms {
		if f != "" && f != safe && !slices.Contains(forms[:i], f) {
			pairs = append(pairs, f, safe)
		}
	}
	// One pass: a replacement is never searched again (safe may contain a form as a prefix).
	return strings.NewReplacer(pairs...).Replace(msg)
}

// quoted is s as %q writes it, without the quotes.
func quoted(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

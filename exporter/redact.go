package exporter

import (
	"errors"
	"net/url"
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
		msg = strings.ReplaceAll(msg, ue.URL, RedactTarget(ue.URL))
	}
	return msg
}

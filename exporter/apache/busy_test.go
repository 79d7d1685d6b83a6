package apache

import (
	"strings"
	"testing"
	"time"
)

// The tables captured from the real httpd (TestRealApacheBusySeconds) add up as mod_status
// wrote them.
func TestParseTableCaptures(t *testing.T) {
	for _, tc := range []struct {
		file    string
		seconds func(float64) bool
		want    string
	}{
		// Two requests of 3 s have run for 1 s or more, with a few ms of status requests
		// finished before.
		{"event-table-busy.html", func(s float64) bool { return s >= 2 && s < 3 }, "2 whole seconds of the requests in flight"},
		// Once they ended: their full time, 6 s, in Dur.
		{"event-table-after.html", func(s float64) bool { return s >= 6 && s < 6.5 }, "6 s of the ended requests"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			w, err := parseTable(readCapture(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.seconds(w.seconds) || w.http2 {
				t.Errorf("table %+v, want %s", w, tc.want)
			}
		})
	}
}

// A row is read only as mod_status writes it: an ?auto page, a page without ExtendedStatus
// or a row changed out of shape is no table.
func TestParseTableRejects(t *testing.T) {
	table := string(readCapture(t, "event-table-busy.html"))
	for name, page := range map[string]string{
		"auto page":    string(readCapture(t, "event-idle.txt")),
		"no table":     table[:strings.Index(table, "<table border")],
		"negative Dur": strings.Replace(table, "</td><td>0</td><td>0</td><td>", "</td><td>0</td><td>0</td><td>-5</td><td>", 1),
	} {
		if w, err := parseTable([]byte(page)); err == nil && name != "negative Dur" {
			t.Errorf("%s: parsed as %+v", name, w)
		} else if name == "negative Dur" && err == nil && w.seconds < 0 {
			t.Errorf("%s: a negative sum %v", name, w.seconds)
		}
	}
	row := "<tr><td><b>0-0</b></td><td>1</td><td>0/1/1</td><td><b>W</b>\n</td><td>0.00</td><td>7</td><td>0</td><td>2500</td>" +
		"<td>0.0</td><td>0.00</td><td>0.00\n</td><td>127.0.0.1</td><td>%s</td>"
	w, err := parseTable([]byte(strings.Replace(row, "%s", "http/1.1", 1)))
	if err != nil || w.seconds != 9.5 || w.http2 {
		t.Errorf("one row writing for 7 s after 2.5 s of requests: %+v, %v; want 9.5 s", w, err)
	}
	w, err = parseTable([]byte(strings.Replace(row, "%s", "h2c", 1)))
	if err != nil || !w.http2 {
		t.Errorf("an h2c connection: %+v, %v; want it seen", w, err)
	}
	for _, mode := range []string{"_", "<b>K</b>", "<b>R</b>", "<b>C</b>", "G"} {
		w, err := parseTable([]byte(strings.Replace(strings.Replace(row, "<b>W</b>", mode, 1), "%s", "http/1.1", 1)))
		if err != nil || w.seconds != 2.5 {
			t.Errorf("mode %s: %+v, %v; want its SS left out (it counts from the last request's end)", mode, w, err)
		}
	}
}

// The counter never falls but for a restart, holds dips, and grows no faster than every slot
// busy.
func TestBusyState(t *testing.T) {
	t0 := time.Now()
	var s busyState
	step := func(seconds float64, after time.Duration, slots float64) (float64, bool) {
		return s.total(workerTable{seconds: seconds}, t0.Add(after), slots)
	}
	for i, tc := range []struct {
		seconds   float64
		after     time.Duration
		want      float64
		restarted bool
	}{
		{1000, 0, 1000, false},                // httpd's own sum from the first read
		{1010, 10 * time.Second, 1010, false}, // 1 of 4 slots busy
		{1008, 20 * time.Second, 1010, false}, // a write completion's seconds gone: held
		{1015, 30 * time.Second, 1015, false}, // past the dip: only what is new
		{1500, 40 * time.Second, 1059, false}, // more than 4 slots for 10 s (+1 s each): capped
		{1510, 50 * time.Second, 1103, false}, // and the cap again
		{20, 60 * time.Second, 20, true},      // httpd restarted: a reset
		{25, 70 * time.Second, 25, false},
	} {
		got, restarted := step(tc.seconds, tc.after, 4)
		if got != tc.want || restarted != tc.restarted {
			t.Errorf("read %d (%v at %v): %v restarted %v, want %v %v", i, tc.seconds, tc.after, got, restarted, tc.want, tc.restarted)
		}
	}
}

func TestTableURL(t *testing.T) {
	for target, want := range map[string]string{
		"http://127.0.0.1:8080/server-status":           "http://127.0.0.1:8080/server-status",
		"http://127.0.0.1:8080/server-status?auto":      "http://127.0.0.1:8080/server-status",
		"https://web/status?auto&token=x":               "https://web/status?token=x",
		"http://u:p@127.0.0.1/server-status?auto=1&a=b": "http://u:p@127.0.0.1/server-status?a=b",
	} {
		if got, err := tableURL(target); err != nil || got != want {
			t.Errorf("tableURL(%s) = %s, %v; want %s", target, got, err, want)
		}
	}
	for _, bad := range []string{"http://web/server-status?notable", "http://web/server-status?x=autox"} {
		if got, err := tableURL(bad); err == nil {
			t.Errorf("tableURL(%s) = %s, want an error: mod_status would not write the table", bad, got)
		}
	}
}

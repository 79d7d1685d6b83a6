package tomcat

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/internal/contract"
)

// ErrNotStatus is returned by [Parse] for XML without a <status> root: most likely the target
// is not the manager's status page, or lacks ?XML=true.
var ErrNotStatus = errors.New("no <status> element: is this Tomcat's /manager/status?XML=true?")

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

// status is the part of the manager's XML (StatusTransformer, mode 1) the mapping uses.
type status struct {
	XMLName    xml.Name    `xml:"status"`
	Connectors []connector `xml:"connector"`
}

type connector struct {
	Name       string `xml:"name,attr"`
	ThreadInfo *struct {
		MaxThreads         string `xml:"maxThreads,attr"`
		CurrentThreadCount string `xml:"currentThreadCount,attr"`
		CurrentThreadsBusy string `xml:"currentThreadsBusy,attr"`
	} `xml:"threadInfo"`
	// RequestInfo and Workers are written only when the connector's RequestGroupInfo is
	// found (an HTTP/1.1 or AJP connector that has been started).
	RequestInfo *struct {
		RequestCount string `xml:"requestCount,attr"`
	} `xml:"requestInfo"`
	Workers []struct {
		Stage                 string `xml:"stage,attr"`
		RequestProcessingTime string `xml:"requestProcessingTime,attr"`
		Method                string `xml:"method,attr"`
		CurrentURI            string `xml:"currentUri,attr"` // the path; "?" when unknown
	} `xml:"workers>worker"`
}

// Parse maps the manager's status XML to one pool per connector, named after the connector
// (its JMX name without the quotes, e.g. http-nio-127.0.0.1-8080). A connector that reports
// nonsense is left out and explained in skipped; err is set only when the document as a whole
// is unusable. executorMaxThreads is the maxThreads of the <Executor> the connectors share, if
// any, from the target (0: none stated). The rules, from Tomcat 10.1's StatusTransformer,
// AbstractEndpoint, RequestInfo and RequestGroupInfo:
//
//   - max_workers is threadInfo maxThreads, workers currentThreadCount (threads the
//     connector's executor has started), busy currentThreadsBusy (threads running a task
//     now). A connector on a shared <Executor> shows maxThreads -1 (getMaxThreads knows no
//     bound of an executor it does not own) while its thread counts are the executor's: its
//     capacity is then executorMaxThreads, and without one it is left out. Connectors that
//     share an <Executor> each report the executor's threads: their pools are the same
//     threads. A connector on virtual threads shows its thread counts as -1 and is left out.
//   - completed{success} is requestInfo requestCount: counted when a request ends
//     (RequestInfo.updateCounters), so it does not include requests in progress. Every
//     finished request counts as success: errorCount counts every status >= 400 (a 404
//     included), and it is read apart from requestCount, so requestCount - errorCount could
//     go backwards between scrapes.
//   - oldest_running is the largest requestProcessingTime (milliseconds since the request
//     started) among the workers in stage S (service) or F (finishing): the requests on a
//     thread now. 0 when there is none.
//   - the route series: those same workers, by method and currentUri.
//
// Not provided, because the page does not report them: queued tasks (requests wait in the
// executor's queue and connections in acceptCount's backlog, neither shown: the queue is
// absent, QueueNotMeasured, not 0), busy seconds (processingTime adds a request's time only
// when it ends, and counts the time an async request holds no thread), submitted and
// rejected tasks, saturated seconds, wait histograms and oldest queued age.
func Parse(data []byte, executorMaxThreads float64) (pools []exporter.Pool, skipped []error, err error) {
	var s status
	if err := xml.Unmarshal(data, &s); err != nil {
		var unexpected xml.UnmarshalError
		if errors.As(err, &unexpected) || strings.Contains(err.Error(), "expected element type <status>") {
			return nil, nil, ErrNotStatus
		}
		return nil, nil, fmt.Errorf("malformed Tomcat status XML: %w", err)
	}
	if len(s.Connectors) == 0 {
		return nil, nil, errors.New("no <connector> in the Tomcat status: no pool to read")
	}
	for _, c := range s.Connectors {
		p, notes, err := connectorPool(c, executorMaxThreads)
		for _, n := range notes {
			skipped = append(skipped, fmt.Errorf("connector %s: %w", p.Name, n))
		}
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		pools = append(pools, p)
	}
	if len(pools) == 0 {
		return nil, skipped, fmt.Errorf("no valid connector in the Tomcat status: %w", errors.Join(skipped...))
	}
	return pools, skipped, nil
}

// connectorPool maps one connector; notes explain series left out of a pool that is kept.
func connectorPool(c connector, executorMaxThreads float64) (p exporter.Pool, notes []error, err error) {
	name := strings.Trim(c.Name, `"`)
	if name == "" || !utf8.ValidString(name) {
		return p, nil, fmt.Errorf("connector name %q is empty or not UTF-8", c.Name)
	}
	p = exporter.Pool{Name: name, QueueNotMeasured: true}
	if c.ThreadInfo == nil {
		return p, nil, fmt.Errorf("connector %s: no <threadInfo>", name)
	}
	maxThreads, err := count(c.ThreadInfo.MaxThreads)
	switch {
	case err == nil:
	case c.ThreadInfo.MaxThreads == "-1" && executorMaxThreads > 0:
		maxThreads = executorMaxThreads
	case c.ThreadInfo.MaxThreads == "-1":
		return p, nil, fmt.Errorf("connector %s: maxThreads -1, it runs on a shared <Executor>: "+
			"give the executor's maxThreads as the target's executor_max_threads=N", name)
	default:
		return p, nil, fmt.Errorf("connector %s: maxThreads: %w", name, err)
	}
	threads, err := count(c.ThreadInfo.CurrentThreadCount)
	if err != nil {
		return p, nil, fmt.Errorf("connector %s: currentThreadCount: %w", name, err)
	}
	busy, err := count(c.ThreadInfo.CurrentThreadsBusy)
	if err != nil {
		return p, nil, fmt.Errorf("connector %s: currentThreadsBusy: %w", name, err)
	}
	p.MaxWorkers, p.Workers, p.BusyWorkers = maxThreads, threads, busy
	if c.RequestInfo != nil {
		// requestCount is a Java int: past 2^31 it wraps negative, and is then left out.
		if n, err := count(c.RequestInfo.RequestCount); err != nil {
			notes = append(notes, fmt.Errorf("requestCount: %w; completed requests left out", err))
		} else {
			p.TasksCompletedTotal = map[string]float64{contract.OutcomeSuccess: n}
		}
		oldest := 0.0
		running := []exporter.Request{}
		for _, w := range c.Workers {
			if w.Stage != "S" && w.Stage != "F" {
				continue
			}
			ms, err := count(w.RequestProcessingTime)
			if err != nil {
				notes = append(notes, fmt.Errorf("worker requestProcessingTime: %w; oldest running request left out", err))
				oldest = -1
				break
			}
			oldest = max(oldest, ms/1000)
			r := exporter.Request{AgeSeconds: ms / 1000}
			if w.CurrentURI != "" && w.CurrentURI != "?" {
				r.Target = w.CurrentURI
				if w.Method != "?" {
					r.Method = w.Method
				}
			}
			running = append(running, r)
		}
		if oldest >= 0 {
			p.OldestRunningTaskAgeSeconds = exporter.Float(oldest)
			p.Running = running
		}
	}
	return p, notes, p.Validate()
}

// count parses a non-negative integer attribute.
func count(s string) (float64, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is no count", s)
	}
	return float64(v), nil
}

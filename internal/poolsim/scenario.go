package poolsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
)

// Kind is what a scenario asserts about the alerts.
type Kind string

const (
	// Exhaustion: a warning or critical alert fires by Stall − Lead, and none by QuietUntil.
	Exhaustion Kind = "exhaustion"
	// Detect: a warning or critical alert fires by Stall + DetectWithin (a sudden overload
	// that no forecast can see coming must at least be caught quickly).
	Detect Kind = "detect"
	// Healthy: no warning or critical alert fires over the whole horizon.
	Healthy Kind = "healthy"
)

// Scenario is one pool, its load over time, and what the alerts must do about it. It is read
// from JSON with every field named explicitly: an unknown field is an error, so that a typo
// (or a field from a newer format) is never silently ignored.
type Scenario struct {
	// Name identifies the scenario in reports; Description says what it stands for.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Kind        Kind   `json:"kind"`

	// Source is what exposes the pool: "go" (the collector library: every contract series)
	// or "cherrypy" (the exporter reading cpstats: a subset, plus poolwatch_up). Default "go".
	Source string `json:"source,omitempty"`
	// Job, Instance and Pool are the labels of every series. Defaults: "app", -, "default".
	Job      string `json:"job,omitempty"`
	Instance string `json:"instance"`
	Pool     string `json:"pool,omitempty"`
	// StatsOnMainPool: the stats page is served by the pool it measures, so a read fails
	// (every pool series absent, poolwatch_up 0) while every worker is busy and work waits.
	StatsOnMainPool bool `json:"stats_on_main_pool,omitempty"`

	// Horizon is how long the simulation runs; Scrape and EvaluationInterval are
	// Prometheus's scrape and rule evaluation intervals (defaults 15s and 1m).
	Horizon            Duration  `json:"horizon"`
	Scrape             *Duration `json:"scrape,omitempty"`
	EvaluationInterval *Duration `json:"evaluation_interval,omitempty"`

	// Workers is the pool's capacity. Queue is the queue's capacity: null or absent for an
	// unbounded queue, 0 for a pool that rejects a task when every worker is busy.
	Workers int  `json:"workers"`
	Queue   *int `json:"queue"`
	// Resize changes the capacity while the pool runs, as an autoscaler or an operator does:
	// from each step's minute on, the pool has that many workers (Workers before the first).
	// Growing starts queued tasks at once; shrinking kills no task: those running finish, and
	// none starts while as many run as the new capacity, so for a while more may run than it.
	Resize Steps `json:"resize,omitempty"`
	// Timeout is how long a task may wait before its client gives up: the first task that
	// waits this long is the stall (default 10s).
	Timeout *Duration `json:"timeout,omitempty"`

	// Arrival is the arrival rate (tasks per second) and Service the mean service time
	// (seconds), each a curve over time. Service times are lognormal with shape Sigma
	// (default 0.5); ErrorRatio of completed tasks end in error (default 0.01).
	Arrival    Curve    `json:"arrival"`
	Service    Curve    `json:"service"`
	Sigma      *float64 `json:"sigma,omitempty"`
	ErrorRatio *float64 `json:"error_ratio,omitempty"`
	// HangEvery: the first task that arrives at or after every multiple of this never ends.
	HangEvery *Duration `json:"hang_every,omitempty"`

	// Lead and QuietUntil (exhaustion) and DetectWithin (detect): see Kind.
	// Defaults: lead 5m, detect_within 3m, no quiet period.
	Lead         *Duration `json:"lead,omitempty"`
	QuietUntil   *Duration `json:"quiet_until,omitempty"`
	DetectWithin *Duration `json:"detect_within,omitempty"`

	// Seed makes the run reproducible: the same scenario and seed give the same samples.
	Seed *uint64 `json:"seed,omitempty"`
}

// Defaults of the optional fields.
const (
	DefaultSource       = "go"
	DefaultJob          = "app"
	DefaultPool         = "default"
	DefaultScrape       = Duration(15)
	DefaultEvaluation   = Duration(60)
	DefaultTimeout      = Duration(10)
	DefaultSigma        = 0.5
	DefaultErrorRatio   = 0.01
	DefaultLead         = Duration(300)
	DefaultDetectWithin = Duration(180)
	DefaultSeed         = 1
)

// Load reads and checks a scenario file.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// Parse decodes a scenario strictly (unknown fields and trailing data are errors), fills in
// the defaults and checks it.
func Parse(data []byte) (*Scenario, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the scenario object")
	}
	sc.fillDefaults()
	if err := sc.validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

func (sc *Scenario) fillDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&sc.Source, DefaultSource)
	def(&sc.Job, DefaultJob)
	def(&sc.Pool, DefaultPool)
	defDur := func(d **Duration, v Duration) {
		if *d == nil {
			*d = &v
		}
	}
	defDur(&sc.Scrape, DefaultScrape)
	defDur(&sc.EvaluationInterval, DefaultEvaluation)
	defDur(&sc.Timeout, DefaultTimeout)
	switch sc.Kind {
	case Exhaustion:
		defDur(&sc.Lead, DefaultLead)
	case Detect:
		defDur(&sc.DetectWithin, DefaultDetectWithin)
	}
	defFloat := func(f **float64, v float64) {
		if *f == nil {
			*f = &v
		}
	}
	defFloat(&sc.Sigma, DefaultSigma)
	defFloat(&sc.ErrorRatio, DefaultErrorRatio)
	if sc.Seed == nil {
		s := uint64(DefaultSeed)
		sc.Seed = &s
	}
}

func (sc *Scenario) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if sc.Name == "" {
		bad("name: required")
	}
	if sc.Instance == "" {
		bad("instance: required (the alerts are matched on it)")
	}
	src, ok := sources[sc.Source]
	if !ok {
		bad("source %q: unknown (known: %s)", sc.Source, sourceNames())
	} else if sc.StatsOnMainPool && !src.statsPage {
		bad("stats_on_main_pool: source %q has no stats page (it is instrumented in-process)", sc.Source)
	}
	switch sc.Kind {
	case Exhaustion:
		if sc.DetectWithin != nil {
			bad("detect_within: only for kind detect")
		}
	case Detect:
		if sc.Lead != nil || sc.QuietUntil != nil {
			bad("lead, quiet_until: only for kind exhaustion")
		}
	case Healthy:
		if sc.Lead != nil || sc.QuietUntil != nil || sc.DetectWithin != nil {
			bad("lead, quiet_until, detect_within: not for kind healthy")
		}
	default:
		bad("kind %q: must be exhaustion, detect or healthy", sc.Kind)
	}
	if sc.Horizon < 60 {
		bad("horizon %v: at least 1m", sc.Horizon)
	}
	if *sc.Scrape <= 0 || *sc.Scrape > sc.Horizon {
		bad("scrape %v: must be positive and within the horizon", *sc.Scrape)
	}
	if *sc.EvaluationInterval <= 0 {
		bad("evaluation_interval %v: must be positive", *sc.EvaluationInterval)
	}
	if sc.Workers < 1 {
		bad("workers %d: at least 1", sc.Workers)
	}
	for i, st := range sc.Resize {
		// The horizon, also written in minutes, is not rounded: within a nanosecond of it is at it.
		if st.At < 0 || st.At.Seconds() > sc.Horizon.Seconds()+1e-9 {
			bad("resize: step %d at minute %g: must be within 0 and the horizon (%v)", i, st.At.Seconds()/60, sc.Horizon)
		}
		if i > 0 && st.At <= sc.Resize[i-1].At {
			bad("resize: step %d at minute %g: the minutes must increase", i, st.At.Seconds()/60)
		}
		if st.Workers < 1 {
			bad("resize: step %d: workers %d: at least 1", i, st.Workers)
		}
	}
	if sc.Queue != nil && *sc.Queue < 0 {
		bad("queue %d: cannot be negative (null for unbounded)", *sc.Queue)
	}
	if *sc.Timeout <= 0 {
		bad("timeout %v: must be positive", *sc.Timeout)
	}
	if sc.Arrival.f == nil {
		bad("arrival: required")
	} else if sc.Arrival.min < 0 {
		bad("arrival: a rate cannot be negative")
	}
	if sc.Service.f == nil {
		bad("service: required")
	} else if sc.Service.min < 0 {
		bad("service: a time cannot be negative")
	}
	if *sc.Sigma < 0 || *sc.Sigma > 5 {
		bad("sigma %v: must be within 0 and 5", *sc.Sigma)
	}
	if *sc.ErrorRatio < 0 || *sc.ErrorRatio > 1 {
		bad("error_ratio %v: must be within 0 and 1", *sc.ErrorRatio)
	}
	if sc.HangEvery != nil && *sc.HangEvery <= 0 {
		bad("hang_every %v: must be positive", *sc.HangEvery)
	}
	for name, d := range map[string]*Duration{"lead": sc.Lead, "quiet_until": sc.QuietUntil, "detect_within": sc.DetectWithin} {
		if d != nil && (*d < 0 || *d > sc.Horizon) {
			bad("%s %v: must be within 0 and the horizon", name, *d)
		}
	}
	return errors.Join(errs...)
}

// WorkersAt is the pool's capacity at t seconds: Workers, or the last resize step by then.
func (sc *Scenario) WorkersAt(t float64) int {
	w := sc.Workers
	for _, st := range sc.Resize {
		if st.At.Seconds() > t {
			break
		}
		w = st.Workers
	}
	return w
}

// Steps is a capacity over time, written in JSON as [[minute, workers], ...]: from each
// minute on, the pool has that many workers.
type Steps []Step

// Step is one change of capacity: from At on, Workers workers.
type Step struct {
	At      Duration
	Workers int
}

// UnmarshalJSON reads [[minute, workers], ...]; their order and range are checked by
// validate, with the rest of the scenario.
func (s *Steps) UnmarshalJSON(b []byte) error {
	var pts [][]float64
	if err := json.Unmarshal(b, &pts); err != nil {
		return fmt.Errorf("resize: want [[minute, workers], ...]: %w", err)
	}
	steps := make(Steps, len(pts))
	for i, p := range pts {
		if len(p) != 2 {
			return fmt.Errorf("resize: step %d: want [minute, workers]", i)
		}
		if p[1] != math.Trunc(p[1]) || math.Abs(p[1]) > math.MaxInt32 {
			return fmt.Errorf("resize: step %d: workers %v: want a whole number", i, p[1])
		}
		// To the millisecond, the finest time a promtool file writes: minute x 60 is not
		// always a whole number of seconds in floating point (4.15 x 60 =
		// 249.00000000000003), and a resize meant for a scrape's instant would come after it.
		steps[i] = Step{At: Duration(math.Round(p[0]*60e3) / 1e3), Workers: int(p[1])}
	}
	*s = steps
	return nil
}

// Duration is a length of time in seconds, written in JSON as a Prometheus-style string
// ("90m", "15s", "250ms", "1h") or a number of seconds.
type Duration float64

var durationRE = regexp.MustCompile(`^(\d+(?:\.\d+)?)(ms|s|m|h)$`)

// UnmarshalJSON reads "90m" or 5400.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case float64:
		*d = Duration(v)
		return nil
	case string:
		m := durationRE.FindStringSubmatch(v)
		if m == nil {
			return fmt.Errorf("duration %q: want a number and a unit (ms, s, m, h), e.g. \"90m\"", v)
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		*d = Duration(n * map[string]float64{"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m[2]])
		return nil
	}
	return fmt.Errorf("duration %s: want a string such as \"90m\" or a number of seconds", b)
}

// Seconds returns d in seconds.
func (d Duration) Seconds() float64 { return float64(d) }

// String formats d as Prometheus does where it can ("1h30m", "15s", "250ms").
func (d Duration) String() string { return promDuration(float64(d)) }

// promDuration formats seconds the way promtool test files accept them: whole hours,
// minutes and seconds, or milliseconds when the value has a fraction of a second.
func promDuration(s float64) string {
	ms := int64(math.Round(s * 1000))
	if ms == 0 {
		return "0s"
	}
	if ms%1000 != 0 {
		return strconv.FormatInt(ms, 10) + "ms"
	}
	sec := ms / 1000
	out := ""
	if h := sec / 3600; h > 0 {
		out += strconv.FormatInt(h, 10) + "h"
	}
	if m := sec % 3600 / 60; m > 0 {
		out += strconv.FormatInt(m, 10) + "m"
	}
	if s := sec % 60; s > 0 {
		out += strconv.FormatInt(s, 10) + "s"
	}
	return out
}

// Curve is a value over time, written in JSON as a number (constant), a list of
// [minute, value] points joined by straight lines (flat before the first and after the
// last), or {"sine": {"period": "24h", "lo": a, "hi": b, "phase": "0m"}}, which starts at lo
// and peaks at hi half a period later.
type Curve struct {
	f   func(t float64) float64
	min float64 // the lowest value the curve takes, for validation
}

// At returns the curve's value at t seconds.
func (c Curve) At(t float64) float64 { return c.f(t) }

type sineSpec struct {
	Period Duration  `json:"period"`
	Lo     float64   `json:"lo"`
	Hi     float64   `json:"hi"`
	Phase  *Duration `json:"phase,omitempty"`
}

// UnmarshalJSON reads the three forms of a curve.
func (c *Curve) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("curve: empty")
	}
	switch b[0] {
	case '{':
		var spec struct {
			Sine *sineSpec `json:"sine"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			return fmt.Errorf("curve: %w", err)
		}
		if spec.Sine == nil {
			return errors.New(`curve: an object must be {"sine": {...}}`)
		}
		s := *spec.Sine
		if s.Period <= 0 {
			return errors.New("curve: sine period must be positive")
		}
		phase := 0.0
		if s.Phase != nil {
			phase = s.Phase.Seconds()
		}
		p := s.Period.Seconds()
		c.f = func(t float64) float64 {
			return s.Lo + (s.Hi-s.Lo)*(1-math.Cos(2*math.Pi*(t+phase)/p))/2
		}
		c.min = math.Min(s.Lo, s.Hi)
		return nil
	case '[':
		var pts [][]float64
		if err := json.Unmarshal(b, &pts); err != nil {
			return fmt.Errorf("curve: want [[minute, value], ...]: %w", err)
		}
		if len(pts) == 0 {
			return errors.New("curve: no points")
		}
		ts, vs := make([]float64, len(pts)), make([]float64, len(pts))
		c.min = math.Inf(1)
		for i, p := range pts {
			if len(p) != 2 {
				return fmt.Errorf("curve: point %d: want [minute, value]", i)
			}
			ts[i], vs[i] = p[0]*60, p[1]
			if i > 0 && ts[i] < ts[i-1] {
				return fmt.Errorf("curve: point %d: minutes must not decrease", i)
			}
			c.min = math.Min(c.min, vs[i])
		}
		c.f = func(t float64) float64 { return piecewise(ts, vs, t) }
		return nil
	default:
		var v float64
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("curve: want a number, [[minute, value], ...] or {\"sine\": ...}: %w", err)
		}
		c.f = func(float64) float64 { return v }
		c.min = v
		return nil
	}
}

// piecewise interpolates linearly between the points (ts ascending); a step where two
// points share a time.
func piecewise(ts, vs []float64, t float64) float64 {
	if t <= ts[0] {
		return vs[0]
	}
	for i := 1; i < len(ts); i++ {
		if t <= ts[i] {
			if ts[i] == ts[i-1] {
				return vs[i-1]
			}
			return vs[i-1] + (vs[i]-vs[i-1])*(t-ts[i-1])/(ts[i]-ts[i-1])
		}
	}
	return vs[len(vs)-1]
}

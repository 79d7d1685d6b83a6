package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

// promAPI is the little of Prometheus' HTTP API the test needs.
type promAPI struct{ base string } // http://host:port

// sample is one element of an instant vector.
type sample struct {
	Metric map[string]string
	Value  float64
}

// apiResponse is the envelope of every /api/v1 answer.
type apiResponse struct {
	Status string          `json:"status"`
	Error  string          `json:"error"`
	Data   json.RawMessage `json:"data"`
}

func (p promAPI) get(ctx context.Context, path string, params url.Values, into any) error {
	u := p.base + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	body, err := testproc.HTTPGet(ctx, u)
	if err != nil {
		return err
	}
	var resp apiResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if resp.Status != "success" {
		return fmt.Errorf("%s: %s", path, resp.Error)
	}
	return json.Unmarshal(resp.Data, into)
}

// query evaluates an instant query and returns its vector.
func (p promAPI) query(ctx context.Context, expr string) ([]sample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %s, want vector", expr, data.ResultType)
	}
	out := make([]sample, 0, len(data.Result))
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: value %v: %w", expr, r.Value[1], err)
		}
		out = append(out, sample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

// target is one scrape target's state.
type target struct {
	ScrapePool string            `json:"scrapePool"`
	ScrapeURL  string            `json:"scrapeUrl"`
	Labels     map[string]string `json:"labels"`
	Health     string            `json:"health"`
	LastError  string            `json:"lastError"`
}

// activeTargets lists the targets Prometheus scrapes.
func (p promAPI) activeTargets(ctx context.Context) ([]target, error) {
	var data struct {
		ActiveTargets []target `json:"activeTargets"`
	}
	err := p.get(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &data)
	return data.ActiveTargets, err
}

// ruleHealth is the evaluation state of one loaded rule.
type ruleHealth struct {
	Group, Name, Type, Health, LastError string
}

// rules lists every loaded rule with its last evaluation's health.
func (p promAPI) rules(ctx context.Context) ([]ruleHealth, error) {
	var data struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name      string `json:"name"`
				Type      string `json:"type"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get(ctx, "/api/v1/rules", nil, &data); err != nil {
		return nil, err
	}
	var out []ruleHealth
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			out = append(out, ruleHealth{Group: g.Name, Name: r.Name, Type: r.Type, Health: r.Health, LastError: r.LastError})
		}
	}
	return out, nil
}

// firstTrue returns the first time in [start, end] at which expr (a filter such as `a >= b`)
// returned any sample, evaluated every step.
func (p promAPI) firstTrue(ctx context.Context, expr string, start, end time.Time, step time.Duration) (time.Time, bool, error) {
	var data struct {
		Result []struct {
			Values [][2]any `json:"values"`
		} `json:"result"`
	}
	params := url.Values{
		"query": {expr},
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix()+1, 10)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	if err := p.get(ctx, "/api/v1/query_range", params, &data); err != nil {
		return time.Time{}, false, err
	}
	var first time.Time
	for _, series := range data.Result {
		if len(series.Values) == 0 {
			continue
		}
		ts, ok := series.Values[0][0].(float64)
		if !ok {
			return time.Time{}, false, fmt.Errorf("query_range %q: timestamp %v", expr, series.Values[0][0])
		}
		at := time.Unix(0, int64(ts*float64(time.Second)))
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, !first.IsZero(), nil
}

// queryRange evaluates expr every step over [start, end], as a Grafana panel does, and
// returns how many series had at least one value a panel can draw: NaN (a quantile of no
// observations, 0/0) is no data, so that a query that can only give NaN does not pass.
func (p promAPI) queryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) (int, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Values [][2]any `json:"values"`
			// A native histogram's samples come as histograms, not values.
			Histograms []json.RawMessage `json:"histograms"`
		} `json:"result"`
	}
	params := url.Values{
		"query": {expr},
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	if err := p.get(ctx, "/api/v1/query_range", params, &data); err != nil {
		return 0, err
	}
	if data.ResultType != "matrix" {
		return 0, fmt.Errorf("query_range %q: result type %s, want matrix", expr, data.ResultType)
	}
	n := 0
	for _, s := range data.Result {
		drawn := len(s.Histograms) > 0
		for _, v := range s.Values {
			if str, _ := v[1].(string); str != "NaN" {
				drawn = true
				break
			}
		}
		if drawn {
			n++
		}
	}
	return n, nil
}

// instantQuery evaluates expr at one time and returns how many series or samples it gave,
// whatever their type (vector of floats or native histograms, scalar, ...).
func (p promAPI) instantQuery(ctx context.Context, expr string, at time.Time) (int, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}, "time": {strconv.FormatInt(at.Unix(), 10)}}, &data); err != nil {
		return 0, err
	}
	if data.ResultType != "vector" {
		return 1, nil // a scalar or string is one value
	}
	var v []json.RawMessage
	if err := json.Unmarshal(data.Result, &v); err != nil {
		return 0, fmt.Errorf("query %q: %w", expr, err)
	}
	return len(v), nil
}

// labelValues returns the values of label on the series matching match over [start, end]:
// what Grafana's label_values(match, label) variable query asks.
func (p promAPI) labelValues(ctx context.Context, label, match string, start, end time.Time) ([]string, error) {
	params := url.Values{
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
	}
	if match != "" {
		params["match[]"] = []string{match}
	}
	var values []string
	err := p.get(ctx, "/api/v1/label/"+url.PathEscape(label)+"/values", params, &values)
	return values, err
}

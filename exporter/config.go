package exporter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// DefaultModuleTimeout is a module's timeout when its configuration sets none.
const DefaultModuleTimeout = 5 * time.Second

// Config is the --config.file of poolwatch_exporter: the modules /probe can use.
type Config struct {
	Modules map[string]*Module `yaml:"modules"`
}

// Module says how /probe reads the targets it allows. A target must be listed in Targets or
// fully match one of TargetPatterns, so that the exporter cannot be used to reach arbitrary
// hosts.
type Module struct {
	// Source names the kind of status page, e.g. "cherrypy".
	Source string `yaml:"source"`
	// Timeout caps a read; the scrape's own timeout lowers it further.
	Timeout model.Duration `yaml:"timeout,omitempty"`
	// Targets are the exact URLs allowed, e.g. http://10.0.0.1:8081/cpstats/data.
	Targets []string `yaml:"targets,omitempty"`
	// TargetPatterns are regular expressions a whole target URL may match instead.
	TargetPatterns []string `yaml:"target_patterns,omitempty"`
	// HTTPClientConfig configures TLS, authentication and proxies towards the targets.
	HTTPClientConfig config.HTTPClientConfig `yaml:"http_client_config,omitempty"`
	// KeepAlive keeps the connection to a target open between reads. Off by default, so
	// that a small stats server holds no idle connection of the exporter: cheroot keeps up
	// to 10 of them and queues each one its client closes as if it carried a request, which
	// then takes one of the stats server's few threads to find it closed.
	KeepAlive bool `yaml:"keep_alive,omitempty"`
	// MaxPools and MaxSeries bound what one target may report (defaults DefaultMaxPools
	// and DefaultMaxSeries); past either, the target reads poolwatch_up 0. Route series
	// past MaxSeries are left out instead, the pool series kept.
	MaxPools  int `yaml:"max_pools,omitempty"`
	MaxSeries int `yaml:"max_series,omitempty"`
	// Routes sets how the requests its targets' pools run become route series.
	Routes RoutesConfig `yaml:"routes,omitempty"`

	routes   RouteOptions
	patterns []*regexp.Regexp
	client   *http.Client
	reader   Reader
	source   Source
	// reads coalesces the concurrent reads of one target through this module.
	reads *readGroup
}

// NewModule returns a module that allows exactly one target, read by source with the default
// HTTP client configuration: the single-target mode (--cherrypy.scrape-uri), which thus gets
// the same fetch policy as /probe (redirects only to the target itself, no keep-alive,
// coalesced reads, the default limits).
func NewModule(source Source, target string, timeout time.Duration) (*Module, error) {
	m := &Module{
		Source:           source.Name(),
		Timeout:          model.Duration(timeout),
		Targets:          []string{target},
		HTTPClientConfig: config.DefaultHTTPClientConfig,
	}
	if err := m.init("", map[string]Source{source.Name(): source}); err != nil {
		return nil, err
	}
	return m, nil
}

// Target returns the [Target] of one read of url with this module: its source, reader,
// limits and coalescing, and a timeout of at most the module's (see [ScrapeTimeout]). The
// caller has checked [Module.Allows].
func (m *Module) Target(url string, timeout time.Duration) Target {
	return Target{
		Source:    m.source,
		Reader:    m.reader,
		URL:       url,
		Timeout:   min(timeout, time.Duration(m.Timeout)),
		MaxPools:  m.MaxPools,
		MaxSeries: m.MaxSeries,
		Routes:    m.routes,
		reads:     m.reads,
		key:       url,
		readLimit: time.Duration(m.Timeout),
	}
}

// UnmarshalYAML applies the defaults before decoding. It uses the callback form so that the
// strict decoder's unknown-field check still applies inside a module.
func (m *Module) UnmarshalYAML(unmarshal func(any) error) error {
	*m = Module{
		Timeout:          model.Duration(DefaultModuleTimeout),
		HTTPClientConfig: config.DefaultHTTPClientConfig,
	}
	type plain Module
	return unmarshal((*plain)(m))
}

// Allows reports whether target may be probed with m.
func (m *Module) Allows(target string) bool {
	if slices.Contains(m.Targets, target) {
		return true
	}
	for _, p := range m.patterns {
		if p.MatchString(target) {
			return true
		}
	}
	return false
}

// LoadConfig reads and checks a configuration file: strict YAML (unknown fields are errors),
// known sources, compilable patterns, a valid HTTP client configuration (relative file names
// in it resolve against the file's directory) and targets the source accepts ([CheckTarget]).
func LoadConfig(path string, sources map[string]Source) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	cfg := &Config{}
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	if len(cfg.Modules) == 0 {
		// An empty (or comment-only) file would silently disable every module: surely a
		// mistake, refused on start and, on reload, in favour of the configuration in force.
		return nil, fmt.Errorf("%s: no modules: /probe would refuse every request", path)
	}
	names := make([]string, 0, len(cfg.Modules))
	for name := range cfg.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m := cfg.Modules[name]
		if m == nil {
			return nil, fmt.Errorf("module %q: empty", name)
		}
		if err := m.init(filepath.Dir(path), sources); err != nil {
			return nil, fmt.Errorf("module %q: %w", name, err)
		}
	}
	return cfg, nil
}

func (m *Module) init(dir string, sources map[string]Source) error {
	source, ok := sources[m.Source]
	if !ok {
		known := make([]string, 0, len(sources))
		for name := range sources {
			known = append(known, name)
		}
		sort.Strings(known)
		return fmt.Errorf("unknown source %q (known: %v)", m.Source, known)
	}
	m.source = source
	if m.Timeout <= 0 {
		return fmt.Errorf("timeout must be positive, not %v", m.Timeout)
	}
	if len(m.Targets) == 0 && len(m.TargetPatterns) == 0 {
		return errors.New("no targets or target_patterns: the module would refuse every target")
	}
	if m.MaxPools < 0 || m.MaxSeries < 0 {
		return fmt.Errorf("max_pools (%d) and max_series (%d) must not be negative", m.MaxPools, m.MaxSeries)
	}
	for _, t := range m.Targets {
		if err := CheckTarget(source, t); err != nil {
			return err
		}
	}
	for _, p := range m.TargetPatterns {
		// Anchored, so that a pattern written for one host cannot be satisfied by a URL that
		// merely contains it (http://evil/?http://good...).
		re, err := regexp.Compile("^(?:" + p + ")$")
		if err != nil {
			return fmt.Errorf("target pattern %q: %w", p, err)
		}
		m.patterns = append(m.patterns, re)
	}
	routes, err := m.Routes.Options()
	if err != nil {
		return err
	}
	m.routes = routes
	if dir != "" {
		m.HTTPClientConfig.SetDirectory(dir)
	}
	if err := m.HTTPClientConfig.Validate(); err != nil {
		return fmt.Errorf("http_client_config: %w", err)
	}
	var opts []config.HTTPClientOption
	if !m.KeepAlive {
		opts = append(opts, config.WithKeepAlivesDisabled())
	}
	client, err := config.NewClientFromConfig(m.HTTPClientConfig, "poolwatch_exporter", opts...)
	if err != nil {
		return fmt.Errorf("http_client_config: %w", err)
	}
	// An allowed target must not be able to send the exporter anywhere else: a redirect is
	// followed only to a target the module allows too (and only as far as the client config
	// lets it follow redirects at all).
	follow := client.CheckRedirect
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if follow != nil {
			if err := follow(req, via); err != nil {
				return err
			}
		} else if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if !m.Allows(req.URL.String()) {
			return fmt.Errorf("redirect refused: %s is not a target of this module", RedactTarget(req.URL.String()))
		}
		return CheckRedirect(m.source, req.URL.String())
	}
	m.client = client
	m.reader = &reader{client: client, maxBody: MaxBodyBytes, maxPools: orDefault(m.MaxPools, DefaultMaxPools), keepAlive: m.KeepAlive}
	m.reads = &readGroup{}
	return nil
}

// TargetChecker is implemented by a source whose targets are not plain http(s) URLs (PHP-FPM
// over FastCGI) or that needs more than the URL's form (a capacity the target must state), so
// that a bad target is refused when the configuration or the flags are loaded, not at every
// scrape.
type TargetChecker interface {
	CheckTarget(target string) error
}

// RedirectChecker is implemented by a source that must refuse some redirects whatever the
// module's patterns allow: Puma's control app stops Puma on a plain GET of /stop.
type RedirectChecker interface {
	CheckRedirect(target string) error
}

// CheckRedirect checks a redirect's target with the source's own [RedirectChecker] if it has
// one; every client that reads a target applies it.
func CheckRedirect(source Source, target string) error {
	if c, ok := source.(RedirectChecker); ok {
		if err := c.CheckRedirect(target); err != nil {
			return fmt.Errorf("redirect refused: %s", redactIn(err.Error(), target))
		}
	}
	return nil
}

// CheckTarget checks target with the source's own [TargetChecker] if it has one, else with
// [CheckTargetURL]. The error names the target redacted ([RedactTarget]): it is logged, and
// a failed reload returns it on /-/reload, while a target may carry a password or a token.
func CheckTarget(source Source, target string) error {
	var err error
	if c, ok := source.(TargetChecker); ok {
		err = c.CheckTarget(target)
	} else {
		err = CheckTargetURL(target)
	}
	if err != nil {
		return errors.New(redactIn(err.Error(), target))
	}
	return nil
}

// CheckTargetURL reports whether target is an absolute http:// or https:// URL.
func CheckTargetURL(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("target %q: want an absolute http:// or https:// URL", target)
	}
	return nil
}

// ConfigStore holds the current configuration and replaces it atomically on Reload, so that a
// bad file leaves the previous configuration in force. It is also the collector of
// poolwatch_exporter_config_last_reload_successful and
// poolwatch_exporter_config_last_reload_success_timestamp_seconds, as blackbox_exporter has
// them, so that a failed reload is an alert rather than a silent outage.
type ConfigStore struct {
	path    string
	sources map[string]Source

	// reloading makes overlapping reloads (SIGHUP and POST /-/reload, two edits in a row)
	// load and swap one after the other, so that the last to read the file is the last to
	// swap: otherwise a slow load of the older file could replace the newer configuration.
	reloading sync.Mutex

	mu          sync.RWMutex
	cfg         *Config
	lastOK      bool
	lastSuccess time.Time
}

var (
	reloadSuccessfulDesc = prometheus.NewDesc("poolwatch_exporter_config_last_reload_successful",
		"1 if the last load of --config.file succeeded, else 0 (the previous configuration stays in force).", nil, nil)
	reloadTimestampDesc = prometheus.NewDesc("poolwatch_exporter_config_last_reload_success_timestamp_seconds",
		"Unix time of the last successful load of --config.file.", nil, nil)
)

// NewConfigStore loads path once; an error means the exporter should not start.
func NewConfigStore(path string, sources map[string]Source) (*ConfigStore, error) {
	s := &ConfigStore{path: path, sources: sources}
	return s, s.Reload()
}

// Reload reads the file again and, if it is valid, makes it the current configuration.
func (s *ConfigStore) Reload() error {
	s.reloading.Lock()
	defer s.reloading.Unlock()
	cfg, err := LoadConfig(s.path, s.sources)
	s.mu.Lock()
	s.lastOK = err == nil
	if err != nil {
		s.mu.Unlock()
		return err
	}
	old := s.cfg
	s.cfg = cfg
	s.lastSuccess = time.Now()
	s.mu.Unlock()
	if old != nil {
		for _, m := range old.Modules {
			m.client.CloseIdleConnections()
		}
	}
	return nil
}

// Module returns the named module of the current configuration.
func (s *ConfigStore) Module(name string) (*Module, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cfg == nil {
		return nil, false
	}
	m, ok := s.cfg.Modules[name]
	return m, ok
}

// Describe implements [prometheus.Collector].
func (s *ConfigStore) Describe(ch chan<- *prometheus.Desc) {
	ch <- reloadSuccessfulDesc
	ch <- reloadTimestampDesc
}

// Collect implements [prometheus.Collector].
func (s *ConfigStore) Collect(ch chan<- prometheus.Metric) {
	s.mu.RLock()
	ok, last := s.lastOK, s.lastSuccess
	s.mu.RUnlock()
	v := 0.0
	if ok {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(reloadSuccessfulDesc, prometheus.GaugeValue, v)
	ts := 0.0
	if !last.IsZero() {
		ts = float64(last.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(reloadTimestampDesc, prometheus.GaugeValue, ts)
}

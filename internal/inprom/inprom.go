// Package inprom runs Prometheus in-process, from Prometheus's own Go
// packages: the scrape manager fills a TSDB in a directory, the rules
// manager evaluates alert rules with the PromQL engine, and an HTTP server on
// 127.0.0.1 answers the instant-query API (/api/v1/query) that ferry's
// analysis provider asks. `ferry demo` uses it so the whole story runs with
// no outside server. Only cmd/ferry imports it: Prometheus's configuration
// package brings the cloud SDKs of its service discovery along.
package inprom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/tsdb"
)

// Options say what the Prometheus scrapes and evaluates.
type Options struct {
	// Dir holds the TSDB and the rule file.
	Dir string
	// Targets are scraped (path /metrics) every ScrapeInterval as job "demo".
	Targets        []string
	ScrapeInterval time.Duration
	// Rules is a rule file (groups: ...) evaluated every EvalInterval.
	Rules        string
	EvalInterval time.Duration
	// Alerts receives the alerts the rules send, as Prometheus sends them to
	// Alertmanager: firing ones again every ResendDelay, resolved ones with
	// EndsAt in the past.
	Alerts      func([]*notifier.Alert)
	ResendDelay time.Duration
	Logger      *slog.Logger
}

// Server is a running in-process Prometheus.
type Server struct {
	URL string // http://127.0.0.1:PORT, the query API's base

	db      *tsdb.DB
	engine  *promql.Engine
	scrapes *scrape.Manager
	rules   *rules.Manager
	http    *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// Start opens the TSDB, starts scraping, evaluating and serving queries.
func Start(o Options) (_ *Server, err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Each Prometheus component registers its own metrics: a registry of
	// their own keeps them off any other.
	reg := promclient.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cancel: cancel}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = int64(time.Hour / time.Millisecond)
	if s.db, err = tsdb.Open(filepath.Join(o.Dir, "data"), log, reg, opts, nil); err != nil {
		return nil, fmt.Errorf("open tsdb: %w", err)
	}
	s.engine = promql.NewEngine(promql.EngineOpts{
		Logger: log, Reg: reg, MaxSamples: 10_000_000, Timeout: 10 * time.Second,
		// A series stays visible this long after its last sample: a few
		// scrapes, so a version that stopped serving drops out quickly.
		LookbackDelta: 5 * o.ScrapeInterval,
	})

	// The scrape configuration is Prometheus's own YAML, parsed and
	// defaulted by its config package as prometheus.yml would be.
	cfg, err := promconfig.Load(fmt.Sprintf(`global: {scrape_interval: %s, scrape_timeout: %s, evaluation_interval: %s}
scrape_configs:
  - job_name: demo
    honor_labels: true
    static_configs: [{targets: []}]
`, model.Duration(o.ScrapeInterval), model.Duration(o.ScrapeInterval), model.Duration(o.EvalInterval)), log)
	if err != nil {
		return nil, fmt.Errorf("scrape config: %w", err)
	}
	if s.scrapes, err = scrape.NewManager(&scrape.Options{DiscoveryReloadOnStartup: true}, log, nil, s.db, nil, reg); err != nil {
		return nil, fmt.Errorf("scrape manager: %w", err)
	}
	if err := s.scrapes.ApplyConfig(cfg); err != nil {
		return nil, fmt.Errorf("scrape config: %w", err)
	}
	// Static targets, handed over as the discovery manager would.
	group := &targetgroup.Group{Source: "demo"}
	for _, t := range o.Targets {
		group.Targets = append(group.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(t)})
	}
	tsets := make(chan map[string][]*targetgroup.Group, 1)
	tsets <- map[string][]*targetgroup.Group{"demo": {group}}
	s.wg.Go(func() { _ = s.scrapes.Run(tsets) })

	if o.Rules != "" {
		file := filepath.Join(o.Dir, "rules.yml")
		if err := os.WriteFile(file, []byte(o.Rules), 0o600); err != nil {
			return nil, fmt.Errorf("rule file: %w", err)
		}
		send := func(...*notifier.Alert) {}
		if o.Alerts != nil {
			send = func(as ...*notifier.Alert) { o.Alerts(as) }
		}
		s.rules = rules.NewManager(&rules.ManagerOptions{
			AppendableV2: s.db, Queryable: s.db, Context: ctx, Logger: log, Registerer: reg,
			QueryFunc:   rules.EngineQueryFunc(s.engine, s.db),
			NotifyFunc:  rules.SendAlerts(senderFunc(send), ""),
			ResendDelay: o.ResendDelay, OutageTolerance: time.Hour, ForGracePeriod: 0,
		})
		if err := s.rules.Update(o.EvalInterval, []string{file}, labels.EmptyLabels(), "", nil); err != nil {
			return nil, fmt.Errorf("rule file: %w", err)
		}
		s.wg.Go(s.rules.Run)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.URL = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/query", s.query)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Go(func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("in-process prometheus", "err", err)
		}
	})
	return s, nil
}

type senderFunc func(...*notifier.Alert)

func (f senderFunc) Send(as ...*notifier.Alert) { f(as...) }

// Close stops scraping, evaluation and serving, and closes the TSDB.
func (s *Server) Close() {
	s.once.Do(func() {
		if s.http != nil {
			_ = s.http.Close()
		}
		if s.rules != nil {
			s.rules.Stop()
		}
		if s.scrapes != nil {
			s.scrapes.Stop()
		}
		s.cancel()
		s.wg.Wait()
		if s.db != nil {
			_ = s.db.Close()
		}
	})
}

// query answers GET or POST /api/v1/query (query, time) in the API's JSON
// shape, the one call ferry's provider makes.
func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		apiError(w, http.StatusBadRequest, "bad_data", err)
		return
	}
	ts := time.Now()
	if t := r.Form.Get("time"); t != "" {
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			apiError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("time %q: %w", t, err))
			return
		}
		sec, frac := math.Modf(f)
		ts = time.Unix(int64(sec), int64(frac*1e9))
	}
	q, err := s.engine.NewInstantQuery(r.Context(), s.db, nil, r.Form.Get("query"), ts)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_data", err)
		return
	}
	defer q.Close()
	res := q.Exec(r.Context())
	if res.Err != nil {
		apiError(w, http.StatusUnprocessableEntity, "execution", res.Err)
		return
	}
	data, err := encodeValue(res.Value)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

func apiError(w http.ResponseWriter, code int, kind string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": kind, "error": err.Error()})
}

// encodeValue writes a result as the query API does: [unix seconds, "value"].
func encodeValue(v any) (map[string]any, error) {
	point := func(t int64, f float64) []any {
		return []any{float64(t) / 1000, strconv.FormatFloat(f, 'f', -1, 64)}
	}
	switch v := v.(type) {
	case promql.Vector:
		out := make([]map[string]any, 0, len(v))
		for _, s := range v {
			out = append(out, map[string]any{"metric": s.Metric.Map(), "value": point(s.T, s.F)})
		}
		return map[string]any{"resultType": "vector", "result": out}, nil
	case promql.Scalar:
		return map[string]any{"resultType": "scalar", "result": point(v.T, v.V)}, nil
	default:
		return nil, fmt.Errorf("result type %T is not served by the in-process API", v)
	}
}

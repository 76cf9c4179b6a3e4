package metrics

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telequeue/telequeue/handlers"
)

// SenderMetrics records the send handlers' events as Prometheus metrics. It
// implements handlers.Observer and is safe for concurrent use.
type SenderMetrics struct {
	sends      *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	tooMany    *prometheus.CounterVec
	waits      *prometheus.CounterVec
	waitLength *prometheus.HistogramVec
	retries    *prometheus.CounterVec
}

var _ handlers.Observer = (*SenderMetrics)(nil)

// Histogram buckets, in seconds.
var (
	// Bot API round trips: tens of milliseconds normally, up to the
	// request timeout (TELEGRAM_TIMEOUT, 15 s by default).
	requestBuckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30}
	// Rate-limit delays: short in-handler waits (RATE_MAX_WAIT, 2 s by
	// default) and longer reschedules (a group's per-minute limit, a 429's
	// retry_after).
	waitBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300}
)

// NewSenderMetrics creates the sender metrics and registers them with reg
// (nil: not registered). Registering twice with the same registry reuses the
// metrics registered first. It panics only if reg already holds different
// metrics with the same names, a programming error like
// prometheus.MustRegister's.
func NewSenderMetrics(reg prometheus.Registerer) *SenderMetrics {
	m := &SenderMetrics{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sends_total",
			Help: "Bot API sendMessage calls by bot and outcome (sent, rate_limited, permanent, unauthorized, migrated, transient, deduplicated).",
		}, []string{"bot", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "telegram_request_seconds",
			Help:    "Latency of Bot API calls.",
			Buckets: requestBuckets,
		}, []string{"bot"}),
		tooMany: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "telegram_429_total",
			Help: "429 Too Many Requests answers received from the Bot API.",
		}, []string{"bot"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rate_limit_waits_total",
			Help: "Sends delayed by the rate limiter: waited in the handler (rescheduled=false) or put back in the queue (rescheduled=true).",
		}, []string{"bot", "rescheduled"}),
		waitLength: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "rate_limit_wait_seconds",
			Help:    "Length of the rate limiter's delays.",
			Buckets: waitBuckets,
		}, []string{"bot", "rescheduled"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "retries_total",
			Help: "Sends that failed transiently and will be retried.",
		}, []string{"bot"}),
	}
	if reg != nil {
		m.sends = register(reg, m.sends)
		m.latency = register(reg, m.latency)
		m.tooMany = register(reg, m.tooMany)
		m.waits = register(reg, m.waits)
		m.waitLength = register(reg, m.waitLength)
		m.retries = register(reg, m.retries)
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic("metrics: " + err.Error())
}

// Sent implements handlers.Observer.
func (m *SenderMetrics) Sent(bot string, outcome handlers.Outcome, latency time.Duration) {
	m.sends.WithLabelValues(bot, string(outcome)).Inc()
	if outcome == handlers.OutcomeDeduplicated || outcome == handlers.OutcomeSuperseded {
		// No Bot API call was made.
		return
	}
	m.latency.WithLabelValues(bot).Observe(latency.Seconds())
	if outcome == handlers.OutcomeRateLimited {
		m.tooMany.WithLabelValues(bot).Inc()
	}
}

// RateLimitWait implements handlers.Observer.
func (m *SenderMetrics) RateLimitWait(bot string, wait time.Duration, rescheduled bool) {
	r := strconv.FormatBool(rescheduled)
	m.waits.WithLabelValues(bot, r).Inc()
	m.waitLength.WithLabelValues(bot, r).Observe(wait.Seconds())
}

// Retry implements handlers.Observer.
func (m *SenderMetrics) Retry(bot string) {
	m.retries.WithLabelValues(bot).Inc()
}

// senderOutcomes are the outcomes a send reports, for [SenderMetrics.Init].
var senderOutcomes = []handlers.Outcome{
	handlers.OutcomeSent, handlers.OutcomeRateLimited, handlers.OutcomePermanent, handlers.OutcomeUnauthorized,
	handlers.OutcomeMigrated, handlers.OutcomeTransient, handlers.OutcomeDeduplicated, handlers.OutcomeSuperseded,
}

// Init creates every counter series of bots at 0, so that each exists from
// the worker's start: Prometheus's increase() and rate() see a series'
// first increment only if the series was scraped before it (an alert on
// "any 429" would otherwise miss the first one).
func (m *SenderMetrics) Init(bots []string) {
	for _, bot := range bots {
		for _, o := range senderOutcomes {
			m.sends.WithLabelValues(bot, string(o))
		}
		m.tooMany.WithLabelValues(bot)
		m.retries.WithLabelValues(bot)
		m.waits.WithLabelValues(bot, "true")
		m.waits.WithLabelValues(bot, "false")
	}
}

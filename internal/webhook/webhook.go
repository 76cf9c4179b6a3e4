package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/events"
	"github.com/telequeue/telequeue/tasks"
)

// Defaults of [Config].
const (
	DefaultTimeout  = 10 * time.Second
	DefaultMaxRetry = 10
	// Group is the consumer group the dispatchers share.
	Group = "telequeue:webhooks"
)

// Config configures webhook deliveries.
type Config struct {
	// URL receives the POSTs (http or https). Required.
	URL string
	// Secret signs them (see the package documentation). Required, at
	// least 16 bytes.
	Secret string
	// Events are the outcomes delivered; empty means all.
	Events []tasks.Outcome
	// Timeout bounds one delivery attempt (default 10s).
	Timeout time.Duration
	// MaxRetry is how often a failed delivery is retried, with backoff,
	// before it is archived (default 10).
	MaxRetry int
	// Client sends the requests; default: an http.Client with Timeout.
	Client *http.Client
}

// Validate checks cfg and fills in defaults.
func (c *Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	if c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may hold credentials: never echo it.
		errs = append(errs, errors.New("WEBHOOK_URL: must be an http or https URL"))
	}
	if len(c.Secret) < 16 {
		errs = append(errs, errors.New("WEBHOOK_SECRET: must be set, at least 16 characters"))
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxRetry < 0 {
		errs = append(errs, errors.New("webhook MaxRetry: must not be negative"))
	}
	if c.MaxRetry == 0 {
		c.MaxRetry = DefaultMaxRetry
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: c.Timeout}
	}
	return errors.Join(errs...)
}

// wants reports whether an event of outcome o is delivered.
func (c *Config) wants(o tasks.Outcome) bool {
	return len(c.Events) == 0 || slices.Contains(c.Events, o)
}

// Handler delivers [tasks.TypeWebhook] tasks.
type Handler struct {
	cfg Config
	now func() time.Time
}

var _ asynq.Handler = (*Handler)(nil)

// NewHandler validates cfg and returns the handler.
func NewHandler(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, now: time.Now}, nil
}

// DeliveryError is a failed delivery attempt. Its text never holds the URL
// (which may carry credentials) or the secret.
type DeliveryError struct {
	// Status is the receiver's HTTP status, 0 if no answer came.
	Status int
	// Kind says what failed without an answer: "timeout", "connection".
	Kind string
}

func (e *DeliveryError) Error() string {
	if e.Status != 0 {
		return "webhook: the receiver answered " + strconv.Itoa(e.Status)
	}
	return "webhook: no answer from the receiver (" + e.Kind + ")"
}

// ProcessTask POSTs the event. Anything but a 2xx answer is an error, so
// that asynq retries it (and archives it after MaxRetry).
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	body := t.Payload()
	var e tasks.Event
	if err := json.Unmarshal(body, &e); err != nil || e.ID == "" {
		return fmt.Errorf("webhook: invalid event payload: %w", asynq.SkipRetry)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: cannot build the request: %w", asynq.SkipRetry)
	}
	attempt, _ := asynq.GetRetryCount(ctx)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "telequeue-webhook/1")
	req.Header.Set(SignatureHeader, Sign([]byte(h.cfg.Secret), h.now(), body))
	req.Header.Set(EventIDHeader, e.ID)
	req.Header.Set(AttemptHeader, strconv.Itoa(attempt+1))
	res, err := h.cfg.Client.Do(req)
	if err != nil {
		kind := "connection"
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			kind = "timeout"
		}
		return &DeliveryError{Kind: kind}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return &DeliveryError{Status: res.StatusCode}
	}
	return nil
}

// Dispatcher turns outcome events into delivery tasks. Every worker process
// runs one; they share the consumer group [Group], so each event is queued
// once (at least once after a crash: receivers dedupe by event id).
type Dispatcher struct {
	cfg    Config
	reader *events.GroupReader
	enq    *asynq.Client
	log    *slog.Logger
}

// NewDispatcher returns a dispatcher reading rdb's outcome stream as
// consumer (unique per process, e.g. host:pid) and queueing with enq. A new
// group starts with the events appended from then on.
func NewDispatcher(rdb redis.UniversalClient, enq *asynq.Client, cfg Config, consumer string, log *slog.Logger) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := events.NewGroupReader(rdb, events.GroupConfig{Group: Group, Consumer: consumer, ClaimIdle: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{cfg: cfg, reader: r, enq: enq, log: log}, nil
}

// Run queues deliveries until ctx ends. Redis errors are logged and retried
// after a pause; it returns nil when ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	for {
		e, err := d.reader.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = d.dispatch(ctx, e)
		}
		if err != nil {
			d.log.WarnContext(ctx, "webhook: cannot dispatch events; retrying", "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
	}
}

func (d *Dispatcher) dispatch(ctx context.Context, e *tasks.Event) error {
	if d.cfg.wants(e.Outcome) {
		body, err := json.Marshal(e)
		if err != nil {
			return err
		}
		t := asynq.NewTask(tasks.TypeWebhook, body,
			asynq.Queue(tasks.QueueWebhooks), asynq.TaskID("wh-"+e.ID),
			asynq.MaxRetry(d.cfg.MaxRetry), asynq.Timeout(d.cfg.Timeout+5*time.Second))
		if _, err := d.enq.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("webhook: queue delivery of %s: %w", e.ID, err)
		}
	}
	return d.reader.Ack(ctx, e.ID)
}

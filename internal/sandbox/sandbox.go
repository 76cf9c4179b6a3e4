package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Sandbox is a local Bot API server. It is an [http.Handler] and is safe for
// concurrent use. Create it with [New].
type Sandbox struct {
	// Immutable after New.
	latency  time.Duration
	jitter   time.Duration
	noParams bool
	tokens   map[string]struct{} // nil: any well-formed token
	log      *slog.Logger
	admin    *http.ServeMux
	bufs     sync.Pool // *bytes.Buffer for request bodies
	encs     sync.Pool // *encoder for replies

	// now and epoch are the clock; tests replace them before first use.
	// Internal times are durations since epoch.
	now   func() time.Time
	epoch time.Time

	closing   chan struct{} // closed by Close and Shutdown
	closeOnce sync.Once

	srvMu sync.Mutex
	srv   *http.Server
	url   string

	mu         sync.Mutex
	limits     Limits
	lim        limiters
	rnd        *rand.Rand
	rules      []*ruleState
	nextRuleID int
	bots       map[int64]*botState
	chats      map[chatKey]*chatState
	msgs       msgLog
	sends      int // records of sends
	seq        int64
	waiters    []waiter
	st         counters
	files      map[string]*fileInfo // by file_id
	fileSeq    int64
	groupSeq   int64 // media_group_id counter
}

// botState is what the sandbox tracks per bot.
type botState struct {
	globalSent, paidSent   history       // recent deliveries for Global and Paid
	globalUntil, paidUntil time.Duration // end of the last 429 penalty
	delivered, paid        int
	win, paidWin           window
	maxPerSec, maxPaidSec  int
}

type chatKey struct {
	bot  int64
	chat string
}

// chatState is what the sandbox tracks per (bot, chat).
type chatState struct {
	id                  string // chat id as recorded
	group               bool
	chatSent, groupSent history       // recent deliveries for Chat and Group
	until               time.Duration // end of the last 429 penalty
	lastAt              time.Duration
	minGap              time.Duration // -1 until two deliveries
	delivered           int
	nextMessageID       int64
	msgs                map[int64]*msgState // by message id
	pins                []int64             // pinned message ids, oldest first
}

type counters struct {
	requests, delivered, otherOK, violations, earlyRetry int
	badRequests, unauthorized, notFound                  int
	uploads                                              int
	uploadBytes                                          int64
	rejected                                             map[LimitKind]int
	faults                                               map[FaultKind]int
	methods                                              map[string]*MethodStats
}

func newCounters() counters {
	return counters{rejected: make(map[LimitKind]int), faults: make(map[FaultKind]int),
		methods: make(map[string]*MethodStats)}
}

// methodStatsLocked returns the counters of a method, creating them.
func (s *Sandbox) methodStatsLocked(name string) *MethodStats {
	m := s.st.methods[name]
	if m == nil {
		m = &MethodStats{}
		s.st.methods[name] = m
	}
	return m
}

type waiter struct {
	n     int
	sends bool // counts sends, not records
	ch    chan struct{}
}

// New returns a Sandbox configured by cfg, or an error if cfg is invalid.
func New(cfg Config) (*Sandbox, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Sandbox{
		latency:  cfg.Latency,
		jitter:   cfg.LatencyJitter,
		noParams: cfg.NoRecordParams,
		log:      cfg.Logger,
		now:      time.Now,
		closing:  make(chan struct{}),
		limits:   cfg.Limits,
		lim:      compileLimits(cfg.Limits),
		rnd:      rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5a4d_b0c5)),
		bots:     make(map[int64]*botState),
		chats:    make(map[chatKey]*chatState),
		st:       newCounters(),
		files:    make(map[string]*fileInfo),
	}
	s.epoch = s.now()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Tokens) > 0 {
		s.tokens = make(map[string]struct{}, len(cfg.Tokens))
		for _, t := range cfg.Tokens {
			s.tokens[t] = struct{}{}
		}
	}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	s.encs.New = func() any {
		e := new(encoder)
		e.enc = json.NewEncoder(&e.buf)
		e.enc.SetEscapeHTML(false)
		return e
	}
	s.admin = s.adminMux()
	return s, nil
}

// ServeHTTP routes Bot API calls (/bot<token>/...) and the admin API
// (/sandbox/...). Anything else gets Telegram's 404.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/bot"):
		s.serveBotAPI(w, r)
	case strings.HasPrefix(p, "/sandbox/"):
		s.admin.ServeHTTP(w, r)
	default:
		s.writeAPIError(w, http.StatusNotFound, "Not Found", 0, 0)
	}
}

// Start serves the sandbox on addr (for example "127.0.0.1:0") in the
// background and returns its base URL, such as "http://127.0.0.1:41234",
// to pass to telego.WithAPIServer.
func (s *Sandbox) Start(addr string) (baseURL string, err error) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		return "", errors.New("sandbox: already started")
	}
	select {
	case <-s.closing:
		return "", errors.New("sandbox: closed")
	default:
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("sandbox: listen: %w", err)
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.url = "http://" + ln.Addr().String()
	srv := s.srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox: serve", slog.Any("error", err))
		}
	}()
	return s.url, nil
}

// URL returns the base URL [Sandbox.Start] listens on, or "" before Start.
func (s *Sandbox) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.url
}

// Close stops the server at once, dropping open connections, and releases
// requests held by latency or [KindTimeout]. It is safe to call more than
// once, and on a Sandbox that was never started.
func (s *Sandbox) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.srvMu.Lock()
	srv := s.srv
	s.srvMu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// Shutdown stops accepting connections and waits, until ctx ends, for
// requests in flight to finish. Requests held by latency or [KindTimeout]
// are released at once.
func (s *Sandbox) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.srvMu.Lock()
	srv := s.srv
	s.srvMu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

// Limits returns the limits in force.
func (s *Sandbox) Limits() Limits {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits
}

// SetLimits replaces the limits in force. Deliveries already made keep
// counting against the new limits: each scope remembers its deliveries
// within the old window W of its latest one, which is exact unless the new W
// is longer, when older deliveries are forgotten. Deliveries made while a
// limit was off do not count for it.
func (s *Sandbox) SetLimits(l Limits) error {
	if err := l.Validate(); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = l
	s.lim = compileLimits(l)
	return nil
}

// Reset forgets every recorded call, every message's state, every file_id
// issued, all statistics, all limit and 429 state and the per-chat message
// ids. Rules and limits stay.
func (s *Sandbox) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = msgLog{}
	s.seq, s.sends = 0, 0
	s.bots = make(map[int64]*botState)
	s.chats = make(map[chatKey]*chatState)
	s.st = newCounters()
	s.files = make(map[string]*fileInfo)
	s.fileSeq, s.groupSeq = 0, 0
}

// botLocked returns the state of bot id, creating it.
func (s *Sandbox) botLocked(id int64) *botState {
	b := s.bots[id]
	if b == nil {
		b = &botState{}
		s.bots[id] = b
	}
	return b
}

// chatLocked returns the state of (bot, chat), creating it.
func (s *Sandbox) chatLocked(bot int64, c *chatRef) *chatState {
	k := chatKey{bot: bot, chat: c.key}
	cs := s.chats[k]
	if cs == nil {
		cs = &chatState{id: c.id, group: c.group(), minGap: -1}
		s.chats[k] = cs
	}
	return cs
}

// delayLocked returns the configured latency plus a jitter draw.
func (s *Sandbox) delayLocked() time.Duration {
	d := s.latency
	if s.jitter > 0 {
		d += time.Duration(s.rnd.Int64N(int64(s.jitter)))
	}
	return d
}

// sleep waits d, or less if ctx ends or the sandbox closes.
func (s *Sandbox) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.closing:
	}
}

// window counts events in the last second.
type window struct {
	ts   []time.Duration
	head int
}

// add records an event at t (t never decreases) and returns how many
// events fall in (t-1s, t].
func (w *window) add(t time.Duration) int {
	cut := t - time.Second
	for w.head < len(w.ts) && w.ts[w.head] <= cut {
		w.head++
	}
	switch {
	case w.head == len(w.ts):
		w.ts, w.head = w.ts[:0], 0
	case w.head >= 1024 && 2*w.head >= len(w.ts):
		n := copy(w.ts, w.ts[w.head:])
		w.ts, w.head = w.ts[:n], 0
	}
	w.ts = append(w.ts, t)
	return len(w.ts) - w.head
}

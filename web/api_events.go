package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telequeue/telequeue/internal/events"
	"github.com/telequeue/telequeue/tasks"
)

// Limits of GET /v1/events.
const (
	// MaxEventsWait is the longest wait of a long poll.
	MaxEventsWait = 30 * time.Second
	// MaxEventsLimit is the most events one long poll returns.
	MaxEventsLimit = 1000
	// sseHeartbeat is how often an idle event stream gets a comment line,
	// so that proxies keep it open.
	sseHeartbeat = 15 * time.Second
	// sseWriteTimeout bounds each write of an event stream.
	sseWriteTimeout = 10 * time.Second
	// ssePoll is how long one read of an event stream waits for events: a
	// blocked read does not notice that the client left, so this bounds how
	// long a stream outlives its client.
	ssePoll = 2 * time.Second
)

var streamID = regexp.MustCompile(`^(0|\d{1,20}-\d{1,20})$`)

// eventsQuery is what GET /v1/events asks for.
type eventsQuery struct {
	after    string // stream id to resume after; "" = from now on
	limit    int
	wait     time.Duration
	outcomes []tasks.Outcome // empty: all
}

var knownOutcomes = []tasks.Outcome{
	tasks.OutcomeSent, tasks.OutcomeArchived, tasks.OutcomeBlocked,
	tasks.OutcomeSuperseded, tasks.OutcomeDropped, tasks.OutcomeCancelled,
}

func parseEventsQuery(r *http.Request) (eventsQuery, *apiError) {
	q := r.URL.Query()
	eq := eventsQuery{after: q.Get("after"), limit: 100}
	if id := r.Header.Get("Last-Event-ID"); eq.after == "" && id != "" {
		eq.after = id
	}
	if eq.after != "" && !streamID.MatchString(eq.after) {
		return eq, &apiError{Code: CodeInvalidField, Field: "after", Message: `after: an event id such as "1733212345678-0", or "0" for the oldest event kept`}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxEventsLimit {
			return eq, &apiError{Code: CodeInvalidField, Field: "limit", Message: fmt.Sprintf("limit: a number from 1 to %d", MaxEventsLimit)}
		}
		eq.limit = n
	}
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > MaxEventsWait {
			return eq, &apiError{Code: CodeInvalidField, Field: "wait", Message: fmt.Sprintf("wait: a duration from 0s to %s, e.g. 25s", MaxEventsWait)}
		}
		eq.wait = d
	}
	if s := q.Get("outcome"); s != "" {
		for _, o := range strings.Split(s, ",") {
			if !slices.Contains(knownOutcomes, tasks.Outcome(o)) {
				return eq, &apiError{Code: CodeInvalidField, Field: "outcome", Message: "outcome: a comma-separated list of sent, archived, blocked, superseded, dropped, cancelled"}
			}
			eq.outcomes = append(eq.outcomes, tasks.Outcome(o))
		}
	}
	return eq, nil
}

func (eq *eventsQuery) wants(e *tasks.Event) bool {
	return len(eq.outcomes) == 0 || slices.Contains(eq.outcomes, e.Outcome)
}

// eventsPage is the body of a long poll.
type eventsPage struct {
	Events []*tasks.Event `json:"events"`
	// Next is the id to pass as after in the next request.
	Next string `json:"next"`
}

// getEvents serves the outcome stream: as server-sent events when the client
// accepts text/event-stream, else as a long poll returning a page of events.
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	eq, apiErr := parseEventsQuery(r)
	if apiErr != nil {
		writeError(w, http.StatusBadRequest, *apiErr)
		return
	}
	if eq.after == "" {
		// "From now on": the newest id, rather than "$", so that the answer
		// can name where the next request resumes.
		last, err := events.LastID(r.Context(), s.rdb)
		if err != nil {
			s.serverError(w, r, "read events", err)
			return
		}
		eq.after = last
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		s.streamEvents(w, r, eq)
		return
	}
	page := eventsPage{Events: []*tasks.Event{}, Next: eq.after}
	deadline := time.Now().Add(eq.wait)
	for {
		block := time.Until(deadline)
		if block < time.Millisecond {
			block = 0
		}
		batch, err := events.Tail(r.Context(), s.rdb, page.Next, eq.limit-len(page.Events), block)
		if err != nil {
			s.serverError(w, r, "read events", err)
			return
		}
		for _, e := range batch {
			page.Next = e.ID
			if eq.wants(e) {
				page.Events = append(page.Events, e)
			}
		}
		if len(page.Events) > 0 || len(batch) == 0 || block == 0 || len(page.Events) >= eq.limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, page)
}

// streamEvents writes events as they are appended, as server-sent events
// (id: the stream id, event: the outcome, data: the JSON), until the client
// goes away. A client that reconnects with Last-Event-ID resumes after the
// last event it received.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, eq eventsQuery) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(": telequeue events after %s\n\n", eq.after) {
		return
	}
	ctx := r.Context()
	after := eq.after
	lastBeat := time.Now()
	for ctx.Err() == nil {
		batch, err := events.Tail(ctx, s.rdb, after, eq.limit, ssePoll)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.WarnContext(ctx, "web: event stream: cannot read events", "error", err)
			if !write("event: error\ndata: {\"code\":%q}\n\n", CodeUnavailable) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(RetryAfterSeconds * time.Second):
			}
			continue
		}
		for _, e := range batch {
			after = e.ID
			if !eq.wants(e) {
				continue
			}
			data, err := json.Marshal(e)
			if err != nil {
				return
			}
			if !write("id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Outcome, data) {
				return
			}
			lastBeat = time.Now()
		}
		if time.Since(lastBeat) >= sseHeartbeat {
			if !write(": keep-alive\n\n") {
				return
			}
			lastBeat = time.Now()
		}
	}
}

// eventRoutes adds the outcome stream's route.
func (s *Server) eventRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/events", s.getEvents)
	mux.Handle("/v1/events", methodNotAllowed("GET"))
}

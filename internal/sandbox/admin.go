package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Admin API wait bounds.
const (
	defaultWaitTimeout = 30 * time.Second
	maxWaitTimeout     = 5 * time.Minute
)

func (s *Sandbox) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sandbox/messages", s.adminMessages)
	mux.HandleFunc("GET /sandbox/stats", s.adminStats)
	mux.HandleFunc("GET /sandbox/wait", s.adminWait)
	mux.HandleFunc("GET /sandbox/state", s.adminState)
	mux.HandleFunc("GET /sandbox/rules", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, http.StatusOK, s.Rules())
	})
	mux.HandleFunc("POST /sandbox/rules", s.adminAddRule)
	mux.HandleFunc("DELETE /sandbox/rules", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearRules()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /sandbox/rules/{id}", s.adminRemoveRule)
	mux.HandleFunc("POST /sandbox/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /sandbox/limits", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, http.StatusOK, s.Limits())
	})
	mux.HandleFunc("PUT /sandbox/limits", s.adminSetLimits)
	return mux
}

type adminErr struct {
	Error string `json:"error"`
}

func adminError(s *Sandbox, w http.ResponseWriter, code int, err error) {
	s.writeJSON(w, code, adminErr{Error: err.Error()})
}

// decodeBody decodes a JSON request body into v, rejecting unknown fields.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("invalid JSON body: " + err.Error())
	}
	return nil
}

func (s *Sandbox) adminMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var chatKey string
	if c := q.Get("chat"); c != "" {
		_, key, ok := parseChatID(c)
		if !ok {
			adminError(s, w, http.StatusBadRequest, errors.New("chat must be an integer id or an @username"))
			return
		}
		chatKey = key
	}
	var bot, since int64
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"bot", &bot}, {"since", &since}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				adminError(s, w, http.StatusBadRequest, errors.New(p.name+" must be an integer"))
				return
			}
			*p.dst = n
		}
	}
	s.mu.Lock()
	out := s.msgs.filter(func(m *Received) bool {
		return m.Seq > since && (bot == 0 || m.BotID == bot) &&
			(chatKey == "" || m.ChatID == chatKey || strings.EqualFold(m.ChatID, chatKey))
	})
	s.mu.Unlock()
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Sandbox) adminStats(w http.ResponseWriter, r *http.Request) {
	summary, _ := strconv.ParseBool(r.URL.Query().Get("summary"))
	s.writeJSON(w, http.StatusOK, s.stats(!summary))
}

type waitReply struct {
	Count int    `json:"count"`
	Error string `json:"error,omitempty"`
}

func (s *Sandbox) adminWait(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n < 0 {
		adminError(s, w, http.StatusBadRequest, errors.New("n must be a non-negative integer"))
		return
	}
	timeout := defaultWaitTimeout
	if v := q.Get("timeout"); v != "" {
		if timeout, err = time.ParseDuration(v); err != nil || timeout <= 0 {
			adminError(s, w, http.StatusBadRequest, errors.New("timeout must be a positive duration"))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(timeout, maxWaitTimeout))
	defer cancel()
	go func() { // release the wait when the sandbox closes
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	sends, _ := strconv.ParseBool(q.Get("sends"))
	count := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.countLocked(sends)
	}
	if err := s.wait(ctx, n, sends); err != nil {
		s.writeJSON(w, http.StatusRequestTimeout, waitReply{Count: count(), Error: "timeout"})
		return
	}
	s.writeJSON(w, http.StatusOK, waitReply{Count: count()})
}

// adminState answers the state of one chat's messages: all of them, or
// the one named by id.
func (s *Sandbox) adminState(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bot, err := strconv.ParseInt(q.Get("bot"), 10, 64)
	if err != nil {
		adminError(s, w, http.StatusBadRequest, errors.New("bot must be an integer"))
		return
	}
	chat := q.Get("chat")
	if _, _, ok := parseChatID(chat); !ok {
		adminError(s, w, http.StatusBadRequest, errors.New("chat must be an integer id or an @username"))
		return
	}
	if v := q.Get("id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			adminError(s, w, http.StatusBadRequest, errors.New("id must be an integer"))
			return
		}
		m, ok := s.Message(bot, chat, id)
		if !ok {
			adminError(s, w, http.StatusNotFound, errors.New("no message "+v+" in chat "+chat))
			return
		}
		s.writeJSON(w, http.StatusOK, m)
		return
	}
	out := s.ChatMessages(bot, chat)
	if out == nil {
		out = []MessageState{}
	}
	s.writeJSON(w, http.StatusOK, out)
}

type ruleID struct {
	ID int `json:"id"`
}

func (s *Sandbox) adminAddRule(w http.ResponseWriter, r *http.Request) {
	var rule Rule
	if err := decodeBody(r, &rule); err != nil {
		adminError(s, w, http.StatusBadRequest, err)
		return
	}
	if err := rule.Validate(); err != nil {
		adminError(s, w, http.StatusBadRequest, err)
		return
	}
	s.writeJSON(w, http.StatusCreated, ruleID{ID: s.AddRule(rule)})
}

func (s *Sandbox) adminRemoveRule(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		adminError(s, w, http.StatusBadRequest, errors.New("rule id must be an integer"))
		return
	}
	if !s.RemoveRule(id) {
		adminError(s, w, http.StatusNotFound, errors.New("no rule "+strconv.Itoa(id)))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) adminSetLimits(w http.ResponseWriter, r *http.Request) {
	var l Limits
	if err := decodeBody(r, &l); err != nil {
		adminError(s, w, http.StatusBadRequest, err)
		return
	}
	if err := s.SetLimits(l); err != nil {
		adminError(s, w, http.StatusBadRequest, err)
		return
	}
	s.writeJSON(w, http.StatusOK, s.Limits())
}

package web

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hibiken/asynqmon"
	"github.com/mymmrac/telego"
	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/httpguard"
	"github.com/telequeue/telequeue/tasks"
)

// newDashboard returns the dashboard's handler: Asynqmon behind Basic auth,
// or a 404 explaining why it is off.
func (s *Server) newDashboard() (http.Handler, error) {
	cfg := s.cfg
	var reason string
	switch {
	case cfg.DashboardUser != "" && cfg.DashboardPassword != "":
	case cfg.DashboardNoAuth:
		s.log.Warn("web: dashboard served WITHOUT authentication (dev mode); loopback clients only", "path", DashboardPath+"/")
	case cfg.DashboardUser == "" && cfg.DashboardPassword == "":
		reason = "DASHBOARD_USER and DASHBOARD_PASSWORD are not set"
	case cfg.DashboardUser == "":
		reason = "DASHBOARD_USER is not set"
	default:
		reason = "DASHBOARD_PASSWORD is not set"
	}
	if reason != "" {
		s.log.Warn("web: dashboard disabled: Asynqmon has no authentication of its own, so it is served only behind credentials",
			"reason", reason, "path", DashboardPath+"/")
		return dashboardDisabled(reason), nil
	}

	h, err := newAsynqmon(asynqmon.Options{
		RootPath:         DashboardPath,
		RedisConnOpt:     cfg.Redis,
		PayloadFormatter: PayloadFormatter(cfg.DashboardTextChars),
		ResultFormatter:  ResultFormatter(),
		ReadOnly:         cfg.DashboardReadOnly,
		// Asynqmon shows its Metrics view when this is set.
		PrometheusAddress: cfg.DashboardPrometheusURL,
	})
	if err != nil {
		return nil, err
	}
	s.dashboard = h

	var next http.Handler = securityHeaders(h)
	if cfg.DashboardUser != "" && cfg.DashboardPassword != "" {
		next = basicAuth(cfg.DashboardUser, cfg.DashboardPassword, http.NewCrossOriginProtection().Handler(next))
	} else {
		// The client must be on loopback and address a loopback host, which
		// also defeats DNS rebinding from a page the developer has open.
		next = httpguard.Local("the unauthenticated dashboard", next)
	}
	s.log.Info("web: dashboard enabled", "path", DashboardPath+"/", "read_only", cfg.DashboardReadOnly,
		"text_chars", cfg.DashboardTextChars, "auth", cfg.DashboardUser != "")
	return next, nil
}

// newAsynqmon checks the options asynqmon.New would panic on, and turns any
// panic it still raises into an error.
func newAsynqmon(opts asynqmon.Options) (h *asynqmon.HTTPHandler, err error) {
	if opts.RedisConnOpt == nil {
		return nil, errors.New("web: dashboard: RedisConnOpt is required")
	}
	if opts.RootPath != "" && !strings.HasPrefix(opts.RootPath, "/") {
		return nil, fmt.Errorf("web: dashboard: root path %q must start with /", opts.RootPath)
	}
	c, ok := opts.RedisConnOpt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("web: dashboard: unsupported Redis option type %T", opts.RedisConnOpt)
	}
	_ = c.Close()
	defer func() {
		if v := recover(); v != nil {
			h, err = nil, fmt.Errorf("web: dashboard: asynqmon: %v", v)
		}
	}()
	return asynqmon.New(opts), nil
}

func dashboardDisabled(reason string) http.Handler {
	body := "The dashboard is disabled: " + reason + ".\n" +
		"Asynqmon has no authentication of its own; set DASHBOARD_USER and DASHBOARD_PASSWORD to serve it behind HTTP Basic auth.\n"
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, body)
	})
}

// basicAuth admits requests carrying user and password. Both are compared
// as SHA-256 digests with subtle.ConstantTimeCompare, so that neither their
// content nor their length shows in the response time.
func basicAuth(user, password string, next http.Handler) http.Handler {
	wantUser := sha256.Sum256([]byte(user))
	wantPass := sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser := sha256.Sum256([]byte(u))
		gotPass := sha256.Sum256([]byte(p))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="telequeue dashboard", charset="UTF-8"`)
			http.Error(w, "401 Unauthorized: the dashboard needs DASHBOARD_USER and DASHBOARD_PASSWORD", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(r.URL.Path, DashboardPath+"/api/") {
			h.Set("Cache-Control", "no-store")
		} else {
			h.Set("Cache-Control", "private") // the UI's assets, behind auth
		}
		next.ServeHTTP(w, r)
	})
}

// dashboardPayload is everything the dashboard may show of a payload.
type dashboardPayload struct {
	Type   string  `json:"type"`
	Bot    string  `json:"bot,omitempty"`
	Method string  `json:"method,omitempty"` // calls of other methods
	Chat   string  `json:"chat,omitempty"`
	Text   *string `json:"text,omitempty"`
	Parts  int     `json:"parts,omitempty"` // multi-part replies: Text is the first part's
	Bytes  int     `json:"bytes,omitempty"` // payloads of other types: size only
	Error  string  `json:"error,omitempty"`
}

// DashboardFieldChars bounds every field the dashboard shows of a payload
// other than the text: the task type, the bot and the chat. Valid values
// fit (bot names have at most 64 characters); anything longer that reached
// Redis is cut, with "…".
const DashboardFieldChars = 64

// PayloadFormatter shows a task's payload in the dashboard as a small JSON
// object: the task type, and for messages the bot, the chat and the first
// textChars characters of the text ("…" marks a cut; 0 hides the text).
// Type, bot and chat are cut at [DashboardFieldChars]. Nothing else of the
// payload is shown; payloads of other types show their size only. A call
// of another Bot API method (POST /v1/methods) shows its method, bot, chat
// and the first textChars characters of its text, caption or question;
// never its files, URLs or markup.
func PayloadFormatter(textChars int) asynqmon.PayloadFormatter {
	return asynqmon.PayloadFormatterFunc(func(taskType string, payload []byte) string {
		out := dashboardPayload{Type: truncate(taskType, DashboardFieldChars)}
		if isCallType(taskType) {
			return formatCall(out, payload, textChars)
		}
		var m tasks.SendMessage
		switch taskType {
		case tasks.TypeSendMessage, tasks.TypeSendMessageOrdered:
			if err := json.Unmarshal(payload, &m); err != nil {
				out.Bytes, out.Error = len(payload), "undecodable payload"
				return encodeCompact(out)
			}
		case tasks.TypeSendMessages, tasks.TypeSendMessagesOrdered:
			var r tasks.SendMessages
			if err := json.Unmarshal(payload, &r); err != nil || len(r.Parts) == 0 {
				out.Bytes, out.Error = len(payload), "undecodable payload"
				return encodeCompact(out)
			}
			m, out.Parts = r.Parts[0], len(r.Parts)
			m.Bot, m.ChatID = r.Bot, r.ChatID
		default:
			out.Bytes = len(payload)
			return encodeCompact(out)
		}
		out.Bot = truncate(m.BotName(), DashboardFieldChars)
		out.Chat = truncate(m.ChatID.String(), DashboardFieldChars)
		if textChars > 0 {
			t := truncate(m.Text, textChars)
			out.Text = &t
		}
		return encodeCompact(out)
	})
}

// formatCall fills out from a tasks.Call payload, decoded leniently.
func formatCall(out dashboardPayload, payload []byte, textChars int) string {
	var c tasks.Call
	var p struct {
		ChatID   *telego.ChatID `json:"chat_id"`
		TaskRef  string         `json:"message_task_id"`
		Text     *string        `json:"text"`
		Caption  *string        `json:"caption"`
		Question *string        `json:"question"`
	}
	if json.Unmarshal(payload, &c) != nil || json.Unmarshal(c.Params, &p) != nil {
		out.Bytes, out.Error = len(payload), "undecodable payload"
		return encodeCompact(out)
	}
	out.Method = truncate(c.Method, DashboardFieldChars)
	out.Bot = truncate(c.BotName(), DashboardFieldChars)
	switch {
	case p.ChatID != nil:
		out.Chat = truncate(p.ChatID.String(), DashboardFieldChars)
	case p.TaskRef != "":
		// The chat of a message still to be sent by that task.
		out.Chat = truncate("of task "+p.TaskRef, DashboardFieldChars)
	}
	for _, text := range []*string{p.Text, p.Caption, p.Question} {
		if text != nil && textChars > 0 {
			t := truncate(*text, textChars)
			out.Text = &t
			break
		}
	}
	return encodeCompact(out)
}

// ResultFormatter shows a completed send's result in the dashboard: its
// Telegram message_id; a call's shows its method and message_ids. Results
// of other task types show their size only.
// Asynqmon's task detail page passes no task type; a result there shows its
// message_id if it has one.
func ResultFormatter() asynqmon.ResultFormatter {
	return asynqmon.ResultFormatterFunc(func(taskType string, result []byte) string {
		if isCallType(taskType) || taskType == "" {
			// A call's tasks.CallResult: the message ids it created or
			// changed, and how it ended if not by a plain call.
			var cr tasks.CallResult
			if json.Unmarshal(result, &cr) == nil && cr.Method != "" {
				outcome := ""
				switch {
				case cr.Superseded:
					outcome = "superseded by a newer edit; not sent"
				case cr.NotModified:
					outcome = "not modified: the message already showed it"
				case cr.AlreadyGone:
					outcome = "already deleted"
				}
				return encodeCompact(struct {
					Method     string  `json:"method"`
					MessageIDs []int64 `json:"message_ids,omitempty"`
					Outcome    string  `json:"outcome,omitempty"`
				}{truncate(cr.Method, DashboardFieldChars), cr.MessageIDs, outcome})
			}
		}
		var r tasks.SendResult
		ok := (taskType == "" || isSendType(taskType)) && json.Unmarshal(result, &r) == nil
		if ok && taskType == "" {
			ok = r.MessageID != 0
		}
		if !ok {
			return encodeCompact(struct {
				Bytes int `json:"bytes"`
			}{len(result)})
		}
		return encodeCompact(struct {
			MessageID int64 `json:"message_id"`
		}{r.MessageID})
	})
}

// isCallType reports whether tasks of type typ carry a tasks.Call: every
// method of the table but the sendMessage types with their own payload.
func isCallType(typ string) bool {
	_, ok := tasks.MethodNameOf(typ)
	return ok && typ != tasks.TypeSendMessage && typ != tasks.TypeSendMessageOrdered
}

// isSendType reports whether tasks of type typ send messages and have a
// tasks.SendResult (or, for replies, its superset) as their result.
func isSendType(typ string) bool {
	switch typ {
	case tasks.TypeSendMessage, tasks.TypeSendMessageOrdered, tasks.TypeSendMessages, tasks.TypeSendMessagesOrdered:
		return true
	}
	return false
}

// truncate returns the first n characters (runes) of s, with "…" when cut.
func truncate(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos] + "…"
		}
		i++
	}
	return s
}

func encodeCompact(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return `{"error":` + strconv.Quote(err.Error()) + `}`
	}
	return strings.TrimSuffix(b.String(), "\n")
}

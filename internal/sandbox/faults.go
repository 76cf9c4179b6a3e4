package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FaultKind is the kind of failure a [Rule] injects. Its value is also its
// name in the admin API and in [Stats.Faults].
type FaultKind string

// The fault kinds and what the sandbox answers. Descriptions can be replaced
// with [Rule.Description].
const (
	// KindTooManyRequests answers 429 "Too Many Requests: retry after N"
	// with parameters.retry_after N ([Rule.RetryAfter], default 1) and
	// remembers the penalty for that bot and chat, so a request arriving
	// before it runs out counts as [Stats.EarlyRetry].
	KindTooManyRequests FaultKind = "429"
	// KindBlocked answers 403 "Forbidden: bot was blocked by the user".
	KindBlocked FaultKind = "blocked"
	// KindDeactivated answers 403 "Forbidden: user is deactivated".
	KindDeactivated FaultKind = "deactivated"
	// KindKicked answers 403 "Forbidden: bot was kicked from the group
	// chat", or "... from the supergroup chat" for -100… ids.
	KindKicked FaultKind = "kicked"
	// KindChatNotFound answers 400 "Bad Request: chat not found".
	KindChatNotFound FaultKind = "chat_not_found"
	// KindMigrate answers 400 "Bad Request: group chat was upgraded to a
	// supergroup chat" with parameters.migrate_to_chat_id = [Rule.MigrateTo],
	// or, when that is 0, -100… followed by the group's id zero-padded to 10
	// digits (-123 → -1000000000123); with MigrateTo 0 the rule matches only
	// basic-group ids (negative, above -10^12). A migrate rule never matches
	// a send to its own target, so sending to the new id succeeds while the
	// old id keeps failing for as long as the rule lasts.
	KindMigrate FaultKind = "migrate"
	// KindUnauthorized answers 401 "Unauthorized".
	KindUnauthorized FaultKind = "unauthorized"
	// KindServerError answers HTTP 500 with body
	// {"ok":false,"error_code":500,"description":"Internal Server Error"}.
	KindServerError FaultKind = "500"
	// KindBadGateway answers HTTP 502 with nginx's HTML error page.
	KindBadGateway FaultKind = "502"
	// KindLatency delays the reply by [Rule.Latency] and otherwise handles
	// the request normally (limits included).
	KindLatency FaultKind = "latency"
	// KindTimeout never delivers and never answers until the client gives
	// up, the sandbox closes, or [Rule.Latency] (default 60 s) passes; then
	// it drops the connection (on timeout, after a 504 nginx page).
	KindTimeout FaultKind = "timeout"
	// KindDropAfterDeliver handles the request normally (limits included)
	// and, if the message was delivered, closes the connection without a
	// reply: a send whose reply was lost.
	KindDropAfterDeliver FaultKind = "drop_after_deliver"
	// KindNotEditable answers 400 "Bad Request: message can't be edited"
	// to the edit methods (editMessageText, editMessageCaption,
	// editMessageMedia, editMessageReplyMarkup) and never matches another
	// method.
	KindNotEditable FaultKind = "not_editable"
)

// FaultKinds returns every [FaultKind].
func FaultKinds() []FaultKind {
	return []FaultKind{
		KindTooManyRequests, KindBlocked, KindDeactivated, KindKicked, KindChatNotFound, KindMigrate,
		KindUnauthorized, KindServerError, KindBadGateway, KindLatency, KindTimeout, KindDropAfterDeliver,
		KindNotEditable,
	}
}

// Valid reports whether k is one of [FaultKinds].
func (k FaultKind) Valid() bool {
	switch k {
	case KindTooManyRequests, KindBlocked, KindDeactivated, KindKicked, KindChatNotFound, KindMigrate,
		KindUnauthorized, KindServerError, KindBadGateway, KindLatency, KindTimeout, KindDropAfterDeliver,
		KindNotEditable:
		return true
	}
	return false
}

// delivers reports whether a request hit by k still goes on to be delivered.
func (k FaultKind) delivers() bool {
	return k == KindLatency || k == KindDropAfterDeliver
}

// DefaultTimeoutHang is how long a [KindTimeout] rule holds a request when
// [Rule.Latency] is 0.
const DefaultTimeoutHang = 60 * time.Second

// Rule injects a fault into matching Bot API requests. The zero value of
// each matching field matches everything.
type Rule struct {
	// Method is the Bot API method the rule applies to, spelt as in the
	// Bot API ("sendPhoto"): "" means every method but getMe, "*" every
	// method.
	Method string `json:"method,omitempty"`
	// Chat restricts the rule to one chat: "123", "-100123" or "@name"
	// (usernames compare case-insensitively). "" matches any chat,
	// including requests without one.
	Chat string `json:"chat,omitempty"`
	// Bot restricts the rule to one bot id (the token's numeric prefix).
	// 0 matches any bot.
	Bot int64 `json:"bot,omitempty"`
	// Kind is the fault to inject.
	Kind FaultKind `json:"kind"`
	// Times limits the rule to the next Times requests it applies to, after
	// which it is removed. 0 means unlimited.
	Times int `json:"times,omitempty"`
	// Probability makes the rule apply to a matching request with this
	// probability, drawn from [Config.Seed]'s source. 0 and 1 mean always.
	// A request the draw spares falls through to the next rules and does not
	// count towards Times.
	Probability float64 `json:"probability,omitempty"`
	// RetryAfter is the retry_after of a [KindTooManyRequests] answer, in
	// seconds. 0 means 1.
	RetryAfter int `json:"retry_after,omitempty"`
	// MigrateTo is the migrate_to_chat_id of a [KindMigrate] answer; see
	// [KindMigrate] for 0.
	MigrateTo int64 `json:"migrate_to,omitempty"`
	// Latency is the delay a [KindLatency] rule adds, or how long a
	// [KindTimeout] rule holds the request (0: [DefaultTimeoutHang]). In JSON
	// it is a Go duration string ("150ms") or a number of nanoseconds.
	Latency time.Duration `json:"-"`
	// Description replaces the error description of the answer.
	Description string `json:"description,omitempty"`
}

type ruleAlias Rule

// MarshalJSON encodes Latency as a duration string.
func (r Rule) MarshalJSON() ([]byte, error) {
	aux := struct {
		ruleAlias
		Latency string `json:"latency,omitempty"`
	}{ruleAlias: ruleAlias(r)}
	if r.Latency != 0 {
		aux.Latency = r.Latency.String()
	}
	return json.Marshal(aux)
}

// UnmarshalJSON accepts Latency as a duration string or nanoseconds and Chat
// as a string or a number.
func (r *Rule) UnmarshalJSON(b []byte) error {
	aux := struct {
		*ruleAlias
		Chat    json.RawMessage `json:"chat"`
		Latency json.RawMessage `json:"latency"`
	}{ruleAlias: (*ruleAlias)(r)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	r.Chat = ""
	if len(aux.Chat) > 0 && string(aux.Chat) != "null" {
		if aux.Chat[0] == '"' {
			if err := json.Unmarshal(aux.Chat, &r.Chat); err != nil {
				return fmt.Errorf("chat: %w", err)
			}
		} else {
			n, err := strconv.ParseInt(string(aux.Chat), 10, 64)
			if err != nil {
				return fmt.Errorf("chat: %s is not an integer", aux.Chat)
			}
			r.Chat = strconv.FormatInt(n, 10)
		}
	}
	r.Latency = 0
	if len(aux.Latency) > 0 && string(aux.Latency) != "null" {
		if aux.Latency[0] == '"' {
			var s string
			if err := json.Unmarshal(aux.Latency, &s); err != nil {
				return fmt.Errorf("latency: %w", err)
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("latency: %w", err)
			}
			r.Latency = d
		} else {
			n, err := strconv.ParseInt(string(aux.Latency), 10, 64)
			if err != nil {
				return fmt.Errorf("latency: %s is not a duration", aux.Latency)
			}
			r.Latency = time.Duration(n)
		}
	}
	return nil
}

// Validate reports whether r is usable. [Sandbox.AddRule] does not validate:
// a rule with an unknown Kind never matches.
func (r Rule) Validate() error {
	var errs []error
	if !r.Kind.Valid() {
		errs = append(errs, fmt.Errorf("unknown kind %q", r.Kind))
	}
	if r.Chat != "" {
		if _, _, ok := parseChatID(r.Chat); !ok {
			errs = append(errs, fmt.Errorf("chat %q is neither an integer id nor an @username", r.Chat))
		}
	}
	if r.Kind == KindMigrate && r.MigrateTo == 0 && strings.HasPrefix(r.Chat, "@") {
		errs = append(errs, errors.New("a migrate rule for an @username needs migrate_to"))
	}
	if m := r.Method; m != "" && m != "*" && !strings.EqualFold(m, methodGetMe) && methods[strings.ToLower(m)] == nil {
		errs = append(errs, fmt.Errorf("unknown method %q", m))
	}
	if r.Times < 0 {
		errs = append(errs, fmt.Errorf("times %d is negative", r.Times))
	}
	if r.Probability < 0 || r.Probability > 1 || r.Probability != r.Probability {
		errs = append(errs, fmt.Errorf("probability %v is outside [0, 1]", r.Probability))
	}
	if r.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("retry_after %d is negative", r.RetryAfter))
	}
	if r.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency %v is negative", r.Latency))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sandbox: rule: %w", err)
	}
	return nil
}

// RuleInfo describes an installed rule.
type RuleInfo struct {
	ID   int  `json:"id"`
	Rule Rule `json:"rule"`
	// Remaining is how many more requests the rule applies to; 0 means
	// unlimited.
	Remaining int `json:"remaining"`
	// Hits is how many requests it has applied to.
	Hits int `json:"hits"`
}

type ruleState struct {
	Rule
	id, remaining, hits int
	chatKey             string // normalised Rule.Chat
}

func (r *ruleState) info() RuleInfo {
	return RuleInfo{ID: r.id, Rule: r.Rule, Remaining: r.remaining, Hits: r.hits}
}

// AddRule appends r to the rules and returns its id. Rules are checked in
// order; the first that matches a request applies.
func (s *Sandbox) AddRule(r Rule) (id int) {
	st := &ruleState{Rule: r, remaining: r.Times}
	if r.Chat != "" {
		if _, key, ok := parseChatID(r.Chat); ok {
			st.chatKey = key
		} else {
			st.chatKey = "\x00invalid" // matches no chat
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextRuleID++
	st.id = s.nextRuleID
	s.rules = append(s.rules, st)
	return st.id
}

// RemoveRule removes the rule with the given id and reports whether it was
// installed.
func (s *Sandbox) RemoveRule(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rules {
		if r.id == id {
			s.rules = append(s.rules[:i:i], s.rules[i+1:]...)
			return true
		}
	}
	return false
}

// ClearRules removes every rule.
func (s *Sandbox) ClearRules() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
}

// Rules returns the installed rules in order.
func (s *Sandbox) Rules() []RuleInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RuleInfo, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.info()
	}
	return out
}

// matchRuleLocked returns the index of the first rule that applies to a
// request, or -1. chat is nil for requests without a chat.
func (s *Sandbox) matchRuleLocked(method string, botID int64, chat *chatRef) int {
	for i, r := range s.rules {
		if !r.Kind.Valid() {
			continue
		}
		switch r.Method {
		case "*":
		case "":
			if method == methodGetMe {
				continue
			}
		default:
			if !strings.EqualFold(r.Method, method) {
				continue
			}
		}
		if r.Bot != 0 && r.Bot != botID {
			continue
		}
		if r.Kind == KindNotEditable {
			if m := methods[strings.ToLower(method)]; m == nil || !m.edit {
				continue
			}
		}
		if r.chatKey != "" && (chat == nil || chat.key != r.chatKey) {
			continue
		}
		if r.Kind == KindMigrate {
			if chat == nil {
				continue
			}
			if r.MigrateTo != 0 {
				if chat.num == r.MigrateTo {
					continue
				}
			} else if !chat.basicGroup() {
				continue
			}
		}
		if p := r.Probability; p > 0 && p < 1 && s.rnd.Float64() >= p {
			continue
		}
		return i
	}
	return -1
}

// useRuleLocked counts one application of rule i and removes the rule once
// its Times are used up.
func (s *Sandbox) useRuleLocked(i int) {
	r := s.rules[i]
	r.hits++
	s.st.faults[r.Kind]++
	if r.Times == 0 {
		return
	}
	r.remaining--
	if r.remaining <= 0 {
		s.rules = append(s.rules[:i:i], s.rules[i+1:]...)
	}
}

// faultVerdict builds the answer of a non-delivering rule.
func faultVerdict(r *Rule, chat *chatRef) verdict {
	v := verdict{fault: r.Kind}
	switch r.Kind {
	case KindTooManyRequests:
		n := max(r.RetryAfter, 1)
		v.code, v.desc, v.retryAfter = 429, tooManyRequests(n), n
	case KindBlocked:
		v.code, v.desc = 403, "Forbidden: bot was blocked by the user"
	case KindDeactivated:
		v.code, v.desc = 403, "Forbidden: user is deactivated"
	case KindKicked:
		v.code, v.desc = 403, "Forbidden: bot was kicked from the group chat"
		if chat != nil && chat.num <= supergroupBase {
			v.desc = "Forbidden: bot was kicked from the supergroup chat"
		}
	case KindChatNotFound:
		v.code, v.desc = 400, "Bad Request: chat not found"
	case KindMigrate:
		v.code, v.desc = 400, "Bad Request: group chat was upgraded to a supergroup chat"
		v.migrateTo = r.MigrateTo
		if v.migrateTo == 0 && chat != nil {
			v.migrateTo = supergroupBase + chat.num
		}
	case KindUnauthorized:
		v.code, v.desc = 401, "Unauthorized"
	case KindNotEditable:
		v.code, v.desc = 400, "Bad Request: message can't be edited"
	case KindServerError:
		v.code, v.desc = 500, "Internal Server Error"
	case KindBadGateway:
		v.code, v.html = 502, badGatewayHTML
	case KindTimeout:
		v.hang = r.Latency
		if v.hang <= 0 {
			v.hang = DefaultTimeoutHang
		}
	}
	if r.Description != "" {
		v.desc = r.Description
	}
	return v
}

func tooManyRequests(n int) string {
	return "Too Many Requests: retry after " + strconv.Itoa(n)
}

const badGatewayHTML = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
	"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"

const gatewayTimeoutHTML = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n" +
	"<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"

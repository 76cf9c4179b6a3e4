package sandbox

import (
	"net/http"
	"strings"
	"time"
)

// lane is which flood limits a method counts against.
type lane int

const (
	// laneSend: Global (or Paid with allow_paid_broadcast), Chat and Group.
	laneSend lane = iota
	// laneChange: Chat and Group only (edits, deletes, pins, chat actions).
	laneChange
	// laneFree: no limit (answerCallbackQuery, inline edits).
	laneFree
)

// method is one Bot API method the sandbox implements: one entry of
// [methods]. Every method runs the same path (see [Sandbox.serveMethod]):
// parse builds a call from the request, then rules, the call's state check,
// 429 penalties and limits, the call's effect, the record and the answer.
type method struct {
	name string
	lane lane
	// paid: allow_paid_broadcast is accepted (and moves the call from
	// Global to Paid); otherwise allow_paid_broadcast=true is refused.
	paid bool
	// edit: a [KindNotEditable] rule applies.
	edit bool
	// parse reads and validates the call; the sandbox's state is not
	// locked.
	parse func(s *Sandbox, a *args) (*call, *apiErr)
}

// call is one parsed Bot API call.
type call struct {
	chat *chatRef // nil for calls without a chat
	paid bool
	// inline: an edit of an inline message, which has no chat and counts
	// against no limit.
	inline bool
	// cost is how many deliveries the call counts for against each limit,
	// capped at the limit's count; 0 means 1.
	cost int
	// check validates the call against the state (messages, file ids),
	// before limits; apply makes its effect and returns the result. Both run
	// with the state locked; apply cannot fail.
	check func(e *exec) *apiErr
	apply func(e *exec) any
	// rec holds the method's own fields of the record; apply may add to it.
	rec Received
}

// exec is what check and apply work on.
type exec struct {
	s    *Sandbox
	bot  int64
	ref  *chatRef   // the call's chat, or nil
	chat *chatState // its state, or nil
	now  time.Time
	rec  *Received
}

// methods is the table of the Bot API methods the sandbox implements,
// keyed by lower-cased name (Telegram's method names are case-insensitive).
var methods = func() map[string]*method {
	list := []*method{
		{name: methodSendMessage, lane: laneSend, paid: true, parse: nil}, // parsed by parseSendMessage
		{name: "sendPhoto", lane: laneSend, paid: true, parse: parseSendMedia(kindPhoto)},
		{name: "sendVideo", lane: laneSend, paid: true, parse: parseSendMedia(kindVideo)},
		{name: "sendAnimation", lane: laneSend, paid: true, parse: parseSendMedia(kindAnimation)},
		{name: "sendAudio", lane: laneSend, paid: true, parse: parseSendMedia(kindAudio)},
		{name: "sendDocument", lane: laneSend, paid: true, parse: parseSendMedia(kindDocument)},
		{name: "sendVoice", lane: laneSend, paid: true, parse: parseSendMedia(kindVoice)},
		{name: "sendVideoNote", lane: laneSend, paid: true, parse: parseSendMedia(kindVideoNote)},
		{name: "sendSticker", lane: laneSend, paid: true, parse: parseSendMedia(kindSticker)},
		{name: "sendMediaGroup", lane: laneSend, paid: true, parse: parseSendMediaGroup},
		{name: "sendLocation", lane: laneSend, paid: true, parse: parseSendLocation},
		{name: "sendVenue", lane: laneSend, paid: true, parse: parseSendVenue},
		{name: "sendContact", lane: laneSend, paid: true, parse: parseSendContact},
		{name: "sendPoll", lane: laneSend, paid: true, parse: parseSendPoll},
		{name: "sendDice", lane: laneSend, paid: true, parse: parseSendDice},
		{name: "copyMessage", lane: laneSend, paid: true, parse: parseCopy(false, false)},
		{name: "copyMessages", lane: laneSend, parse: parseCopy(false, true)},
		{name: "forwardMessage", lane: laneSend, parse: parseCopy(true, false)},
		{name: "forwardMessages", lane: laneSend, parse: parseCopy(true, true)},
		{name: "editMessageText", lane: laneChange, edit: true, parse: parseEdit(editText)},
		{name: "editMessageCaption", lane: laneChange, edit: true, parse: parseEdit(editCaption)},
		{name: "editMessageMedia", lane: laneChange, edit: true, parse: parseEdit(editMedia)},
		{name: "editMessageReplyMarkup", lane: laneChange, edit: true, parse: parseEdit(editMarkup)},
		{name: "deleteMessage", lane: laneChange, parse: parseDelete(false)},
		{name: "deleteMessages", lane: laneChange, parse: parseDelete(true)},
		{name: "pinChatMessage", lane: laneChange, parse: parsePin(true)},
		{name: "unpinChatMessage", lane: laneChange, parse: parsePin(false)},
		{name: "sendChatAction", lane: laneChange, parse: parseChatAction},
		{name: "sendMessageDraft", lane: laneChange, parse: parseDraft},
		{name: "answerCallbackQuery", lane: laneFree, parse: parseAnswerCallback},
	}
	m := make(map[string]*method, len(list))
	for _, e := range list {
		m[strings.ToLower(e.name)] = e
	}
	return m
}()

// Methods returns the names of the Bot API methods the sandbox implements
// besides getMe.
func Methods() []string {
	out := make([]string, 0, len(methods))
	for _, m := range methods {
		out = append(out, m.name)
	}
	return out
}

// IsSend reports whether method (spelt as in the Bot API) makes messages:
// sendMessage, send* (not sendChatAction), copy* and forward*.
func IsSend(method string) bool {
	m := methods[strings.ToLower(method)]
	return m != nil && m.lane == laneSend
}

// serveMethod runs one call of m: decode, parse, then [Sandbox.execute].
func (s *Sandbox) serveMethod(w http.ResponseWriter, r *http.Request, botID int64, m *method) {
	var c *call
	if m.parse == nil { // sendMessage keeps its allocation-lean parser
		sm, code, desc := s.parseSendMessage(r)
		if code != 0 {
			s.refuse(w, r, botID, m.name, code, desc)
			return
		}
		c = sendMessageCall(&sm)
	} else {
		a, cleanup, e := s.decodeArgs(r)
		defer cleanup()
		if e == nil {
			c, e = m.parse(s, a)
		}
		if e == nil && !m.paid && a.v["allow_paid_broadcast"] != "" {
			if paid, _ := a.bool("allow_paid_broadcast"); paid {
				e = badRequest("allow_paid_broadcast can't be used with " + m.name)
			}
		}
		if e == nil && m.paid {
			c.paid, e = a.bool("allow_paid_broadcast")
		}
		if e != nil {
			s.refuse(w, r, botID, m.name, e.code, e.desc)
			return
		}
		c.rec.Params = a.params
	}
	v, res := s.execute(botID, m, c)
	chat := ""
	if c.chat != nil {
		chat = c.chat.id
	}
	if s.reply(w, r, botID, m.name, chat, &v) {
		s.writeJSON(w, http.StatusOK, okResponse{Ok: true, Result: res})
	}
}

// execute applies rules, the call's state check, 429 penalties and limits
// to one valid call and, if all allow, its effect, in one critical section.
func (s *Sandbox) execute(botID int64, m *method, c *call) (verdict, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	t := now.Sub(s.epoch)
	s.st.requests++
	ms := s.methodStatsLocked(m.name)
	ms.Requests++
	delay := s.delayLocked()
	ln := m.lane
	if c.inline {
		ln = laneFree
	}

	ri := s.matchRuleLocked(m.name, botID, c.chat)
	var rule *ruleState
	if ri >= 0 {
		rule = s.rules[ri]
		if !rule.Kind.delivers() {
			v := faultVerdict(&rule.Rule, c.chat)
			v.delay = delay
			if v.retryAfter > 0 && c.chat != nil {
				cs := s.chatLocked(botID, c.chat)
				cs.until = max(cs.until, t+time.Duration(v.retryAfter)*time.Second)
			}
			s.useRuleLocked(ri)
			return v, nil
		}
	}

	b := s.botLocked(botID)
	e := &exec{s: s, bot: botID, ref: c.chat, now: now, rec: &c.rec}
	if c.chat != nil {
		e.chat = s.chatLocked(botID, c.chat)
	}
	if c.check != nil {
		if err := c.check(e); err != nil {
			s.st.badRequests++
			return verdict{code: err.code, desc: err.desc, delay: delay}, nil
		}
	}

	cs := e.chat
	limited := ln != laneFree && cs != nil
	if limited {
		until := cs.until
		if ln == laneSend {
			if c.paid {
				until = max(until, b.paidUntil)
			} else {
				until = max(until, b.globalUntil)
			}
		}
		if t < until {
			s.st.earlyRetry++
			n := retryAfter(until - t)
			return verdict{code: http.StatusTooManyRequests, desc: tooManyRequests(n), retryAfter: n, delay: delay}, nil
		}
		if kind, wait := s.checkLimitsLocked(b, cs, ln == laneSend, c.paid, cs.group, max(c.cost, 1), t); wait > 0 {
			s.st.violations++
			s.st.rejected[kind]++
			n := retryAfter(wait)
			end := t + time.Duration(n)*time.Second
			switch kind {
			case LimitGlobal:
				b.globalUntil = max(b.globalUntil, end)
			case LimitPaid:
				b.paidUntil = max(b.paidUntil, end)
			default:
				cs.until = max(cs.until, end)
			}
			return verdict{code: http.StatusTooManyRequests, desc: tooManyRequests(n), retryAfter: n, delay: delay}, nil
		}
	}

	v := verdict{delay: delay}
	if rule != nil {
		s.useRuleLocked(ri)
		v.fault = rule.Kind
		switch rule.Kind {
		case KindLatency:
			v.delay += rule.Latency
		case KindDropAfterDeliver:
			v.drop = true
		}
	}

	res := c.apply(e)
	ms.OK++
	s.seq++
	rec := c.rec
	rec.Seq, rec.BotID, rec.Method, rec.Paid, rec.At = s.seq, botID, m.name, c.paid, now
	if c.chat != nil {
		rec.ChatID = c.chat.id
	}
	s.msgs.add(rec)
	if ln == laneSend {
		s.sends++
		s.st.delivered++
		b.delivered++
		if c.paid {
			b.paid++
		}
		for range max(c.cost, 1) {
			if c.paid {
				b.maxPaidSec = max(b.maxPaidSec, b.paidWin.add(t))
			} else {
				b.maxPerSec = max(b.maxPerSec, b.win.add(t))
			}
		}
		if cs.delivered > 0 {
			if gap := t - cs.lastAt; cs.minGap < 0 || gap < cs.minGap {
				cs.minGap = gap
			}
		}
		cs.delivered++
		cs.lastAt = t
	} else {
		s.st.otherOK++
	}
	if len(s.waiters) > 0 {
		s.wakeLocked()
	}
	return v, res
}

// trueResult is the result of calls that answer true.
func trueResult(*exec) any { return true }

package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/tasks"
)

// Streaming a reply: a message queued now ("Thinking…") and edited many times
// while an answer is generated, without waiting for its message_id (see the
// README, "Streaming a reply").

// Ref names a message that a queued task sends (or sent): the task's
// receipt id and, for a multi-part reply or an album, which of its messages
// (0: the first).
type Ref struct {
	TaskID string
	Part   int
}

// Message returns a reference to the first message the receipt's task
// sends.
func (r *Receipt) Message() Ref { return Ref{TaskID: r.ID} }

// Part returns a reference to the i-th message (from 0) of the receipt's
// multi-part reply or album.
func (r *Receipt) Part(i int) Ref { return Ref{TaskID: r.ID, Part: i} }

// Target makes a call's message the one ref names, in place of its
// message_id: the message an edit changes, a delete removes, a pin pins, a
// copy or forward takes (its chat_id, or from_chat_id, may be left zero: it
// is the chat the message went to). The call can be queued at once; a worker
// runs it as soon as the referenced message is sent, and archives it with
// the reason if that message is never sent. Leave message_id zero in the
// parameters.
func Target(ref Ref) Option {
	return option{"Target", func(s *settings) error {
		if err := messagesOnly(s); err != nil {
			return err
		}
		if !tasks.ValidTaskID(ref.TaskID) || ref.Part < 0 {
			return fmt.Errorf("%+v is not a reference to a queued message (use Receipt.Message or Receipt.Part)", ref)
		}
		s.target = &ref
		return nil
	}}
}

// ReplyTo makes a call a reply to the message ref names, in place of
// reply_parameters.message_id (and its chat_id, when the message went to
// another chat).
func ReplyTo(ref Ref) Option {
	return option{"ReplyTo", func(s *settings) error {
		if err := messagesOnly(s); err != nil {
			return err
		}
		if !tasks.ValidTaskID(ref.TaskID) || ref.Part < 0 {
			return fmt.Errorf("%+v is not a reference to a queued message (use Receipt.Message or Receipt.Part)", ref)
		}
		s.replyTo = &ref
		return nil
	}}
}

// EveryEdit delivers an edit (or a draft) even when a newer one of the same
// message is queued before its turn comes. By default pending edits of one
// message, and of the same part of it (text, caption, media, keyboard),
// collapse to the newest: the older complete as superseded without reaching
// Telegram, which sees at most the chat's limit of edits, ending with the
// newest. Use EveryEdit for an app that needs every intermediate edit (with
// Ordered to keep their order).
func EveryEdit() Option {
	return option{"EveryEdit", func(s *settings) error {
		if err := messagesOnly(s); err != nil {
			return err
		}
		s.everyEdit = true
		return nil
	}}
}

// withMessageRefs returns params with s's references in place of the message ids
// they stand for: message_task_id (dropping a zero message_id, and a zero
// chat_id or from_chat_id, which the referenced message's chat fills) and
// reply_parameters.message_task_id.
func withMessageRefs(params json.RawMessage, s *settings) (json.RawMessage, error) {
	if s.target == nil && s.replyTo == nil {
		return params, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(params, &obj); err != nil {
		return nil, fmt.Errorf("client: parameters: %w", err)
	}
	if obj == nil {
		obj = map[string]json.RawMessage{}
	}
	zero := func(v json.RawMessage) bool {
		switch string(v) {
		case "", "0", `""`, "null":
			return true
		}
		return false
	}
	if r := s.target; r != nil {
		if !zero(obj["message_id"]) {
			return nil, &OptionError{Option: "Target", Err: errors.New("leave message_id zero: the reference names the message")}
		}
		delete(obj, "message_id")
		for _, f := range []string{"chat_id", "from_chat_id"} {
			if v, ok := obj[f]; ok && zero(v) {
				delete(obj, f)
			}
		}
		obj[tasks.FieldMessageTaskID], _ = json.Marshal(r.TaskID)
		if r.Part > 0 {
			obj[tasks.FieldMessageTaskPart], _ = json.Marshal(r.Part)
		}
	}
	if r := s.replyTo; r != nil {
		rp := map[string]json.RawMessage{}
		if v, ok := obj["reply_parameters"]; ok && !zero(v) {
			if err := json.Unmarshal(v, &rp); err != nil {
				return nil, fmt.Errorf("client: reply_parameters: %w", err)
			}
		}
		if !zero(rp["message_id"]) {
			return nil, &OptionError{Option: "ReplyTo", Err: errors.New("leave reply_parameters.message_id zero: the reference names the message")}
		}
		delete(rp, "message_id")
		if v, ok := rp["chat_id"]; ok && zero(v) {
			delete(rp, "chat_id")
		}
		rp[tasks.FieldMessageTaskID], _ = json.Marshal(r.TaskID)
		if r.Part > 0 {
			rp[tasks.FieldMessageTaskPart], _ = json.Marshal(r.Part)
		}
		obj["reply_parameters"], _ = json.Marshal(rp)
	}
	return json.Marshal(obj)
}

// withCallType returns t as the ordered variant of its type, and with
// tasks.HeaderNoCoalesce for EveryEdit, as s asks.
func withCallType(t *asynq.Task, s *settings, opts []asynq.Option) *asynq.Task {
	typ, headers := t.Type(), t.Headers()
	if s.ordered {
		typ = tasks.OrderedType(typ)
	}
	if s.everyEdit {
		headers = maps.Clone(headers)
		if headers == nil {
			headers = map[string]string{}
		}
		headers[tasks.HeaderNoCoalesce] = "1"
	}
	if typ == t.Type() && !s.everyEdit {
		return t
	}
	return asynq.NewTaskWithHeaders(typ, t.Payload(), headers, append(tasks.DefaultOptions(typ, 0), opts...)...)
}

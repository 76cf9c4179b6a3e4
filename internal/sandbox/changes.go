package sandbox

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// Descriptions of the state errors, as Telegram words them.
const (
	descNotModified = "message is not modified: specified new message content and reply markup are exactly " +
		"the same as a current content and reply markup of the message"
	descEditNotFound   = "message to edit not found"
	descDeleteNotFound = "message to delete not found"
)

// maxDeleteAge is how long after sending a bot can delete a message.
const maxDeleteAge = 48 * time.Hour

// copyRef is a copy's or forward's id of the message it made.
type copyRef struct {
	MessageID int64 `json:"message_id"`
}

// parseCopy reads copyMessage, copyMessages (many), forwardMessage and
// forwardMessages (forward, many).
func parseCopy(forward, many bool) func(*Sandbox, *args) (*call, *apiErr) {
	notFound := "message to copy not found"
	if forward {
		notFound = "message to forward not found"
	}
	return func(_ *Sandbox, a *args) (*call, *apiErr) {
		c, threadID, markup, e := sendBase(a)
		if e != nil {
			return nil, e
		}
		from, e := a.chat("from_chat_id")
		if e != nil {
			return nil, e
		}
		var ids []int64
		if many {
			ids, e = a.ids()
		} else {
			var id int64
			id, e = a.messageID()
			ids = []int64{id}
		}
		if e != nil {
			return nil, e
		}
		// copyMessage may replace the caption of a media message.
		var capt *formatted
		if _, ok := a.v["caption"]; ok && !forward && !many {
			f, e := a.caption()
			if e != nil {
				return nil, e
			}
			capt = &f
			c.rec.Caption, c.rec.ParseMode = f.raw, f.parseMode
		}
		if forward || many {
			markup = nil
		}
		c.rec.FromChatID, c.rec.SourceIDs = from.id, ids
		var src []*msgState
		var fromChat *chatState
		c.check = func(e *exec) *apiErr {
			fromChat = e.s.chats[chatKey{bot: e.bot, chat: from.key}]
			src = src[:0]
			for _, id := range ids {
				if m := fromChat.live(id); m != nil {
					src = append(src, m)
				}
			}
			// Like Telegram, copyMessages and forwardMessages skip the
			// messages they cannot find; none found is an error.
			if len(src) == 0 || (!many && len(src) != len(ids)) {
				return badRequest(notFound)
			}
			c.cost = len(src)
			return nil
		}
		c.apply = func(e *exec) any {
			refs := make([]copyRef, 0, len(src))
			var last *msgState
			for _, m := range src {
				ct := m.content
				if !forward {
					ct.markup = markup
					if capt != nil && hasCaption(m.kind) {
						ct.setCaption(capt)
					}
				}
				n := e.chat.newMessage(e.now, threadID, m.kind, ct)
				if forward {
					n.forward = forwardOrigin(e, &from, m)
				}
				refs = append(refs, copyRef{MessageID: n.id})
				e.rec.MessageIDs = append(e.rec.MessageIDs, n.id)
				last = n
			}
			e.rec.MessageID = refs[0].MessageID
			if !many {
				e.rec.MessageIDs = nil
			}
			switch {
			case many:
				return refs
			case forward:
				return e.s.result(e.bot, e.ref, last)
			default:
				return &refs[0]
			}
		}
		return c, nil
	}
}

// forwardOrigin describes where a forwarded message came from: a channel
// post, or a message the bot sent elsewhere.
func forwardOrigin(e *exec, from *chatRef, m *msgState) json.RawMessage {
	var v any
	if ch := from.telegoChat(); ch.Type == "channel" {
		v = struct {
			Type      string `json:"type"`
			Date      int64  `json:"date"`
			Chat      any    `json:"chat"`
			MessageID int64  `json:"message_id"`
		}{"channel", m.at.Unix(), ch, m.id}
	} else {
		v = struct {
			Type       string `json:"type"`
			Date       int64  `json:"date"`
			SenderUser any    `json:"sender_user"`
		}{"user", m.at.Unix(), e.s.botUser(e.bot)}
	}
	b, _ := json.Marshal(v)
	return b
}

// editKind is what an edit method replaces.
type editKind int

const (
	editText editKind = iota
	editCaption
	editMedia
	editMarkup
)

// parseEdit reads editMessageText, editMessageCaption, editMessageMedia and
// editMessageReplyMarkup, of a chat message or (answering true, without
// state or limits) of an inline message.
func parseEdit(kind editKind) func(*Sandbox, *args) (*call, *apiErr) {
	return func(_ *Sandbox, a *args) (*call, *apiErr) {
		markup, e := a.markup()
		if e != nil {
			return nil, e
		}
		c := &call{}
		var f formatted
		var it item
		switch kind {
		case editText:
			f, e = a.text()
			c.rec.Text, c.rec.ParseMode = f.raw, f.parseMode
		case editCaption:
			f, e = a.caption()
			c.rec.Caption, c.rec.ParseMode = f.raw, f.parseMode
		case editMedia:
			var im inputMedia
			if v := a.v["media"]; v == "" {
				e = badRequest("media is empty")
			} else if err := json.Unmarshal([]byte(v), &im); err != nil {
				e = badRequest("can't parse InputMedia JSON object")
			} else {
				it, e = a.readInputMedia(&im)
				f = it.capt
				c.rec.Caption, c.rec.ParseMode = f.raw, f.parseMode
			}
		}
		if e != nil {
			return nil, e
		}
		if inline := a.v["inline_message_id"]; inline != "" {
			c.inline = true
			c.rec.InlineMessageID = inline
			c.check = func(e *exec) *apiErr {
				if kind == editMedia {
					return e.s.checkFileLocked(e.bot, &it.ref)
				}
				return nil
			}
			c.apply = func(e *exec) any {
				if kind == editMedia {
					_, mf := e.s.resolveFileLocked(e.bot, &it.ref)
					e.rec.Media = []MediaFile{mf}
				}
				return true
			}
			return c, nil
		}
		chat, e := a.chat("chat_id")
		if e != nil {
			return nil, e
		}
		id, e := a.messageID()
		if e != nil {
			return nil, e
		}
		c.chat = &chat
		c.rec.MessageID = id
		var m *msgState
		c.check = func(e *exec) *apiErr {
			if m = e.chat.live(id); m == nil {
				return badRequest(descEditNotFound)
			}
			if m.forward != nil {
				return badRequest("message can't be edited")
			}
			next := m.content
			next.markup = markup
			switch kind {
			case editText:
				if m.kind != kindText {
					return badRequest("there is no text in the message to edit")
				}
				next.setText(&f)
			case editCaption:
				if !hasCaption(m.kind) {
					return badRequest("there is no caption in the message to edit")
				}
				next.setCaption(&f)
			case editMedia:
				if !hasCaption(m.kind) {
					return badRequest("there is no media in the message to edit")
				}
				if err := e.s.checkFileLocked(e.bot, &it.ref); err != nil {
					return err
				}
				if it.ref.fileID == "" || it.ref.kind != m.kind {
					next.file = nil // a new file
				} else {
					next.file = e.s.files[it.ref.fileID]
				}
				next.setCaption(&f)
			}
			if next.sameAs(&m.content) {
				return badRequest(descNotModified)
			}
			return nil
		}
		c.apply = func(e *exec) any {
			switch kind {
			case editText:
				m.content.setText(&f)
			case editCaption:
				m.content.setCaption(&f)
			case editMedia:
				file, mf := e.s.resolveFileLocked(e.bot, &it.ref)
				e.rec.Media = []MediaFile{mf}
				m.kind, m.content.file = it.ref.kind, file
				m.content.setCaption(&f)
			}
			m.content.markup = markup
			m.edits++
			m.editedAt = e.now
			return e.s.result(e.bot, e.ref, m)
		}
		return c, nil
	}
}

// parseDelete reads deleteMessage and deleteMessages (many).
func parseDelete(many bool) func(*Sandbox, *args) (*call, *apiErr) {
	return func(_ *Sandbox, a *args) (*call, *apiErr) {
		chat, e := a.chat("chat_id")
		if e != nil {
			return nil, e
		}
		var ids []int64
		if many {
			ids, e = a.ids()
		} else {
			var id int64
			id, e = a.messageID()
			ids = []int64{id}
		}
		if e != nil {
			return nil, e
		}
		c := &call{chat: &chat}
		var found []*msgState
		c.check = func(e *exec) *apiErr {
			found = found[:0]
			for _, id := range ids {
				if m := e.chat.live(id); m != nil {
					found = append(found, m)
				}
			}
			// deleteMessages skips the messages it cannot find.
			if len(found) == 0 {
				return badRequest(descDeleteNotFound)
			}
			// A message can be deleted for everyone for 48 hours.
			found = slices.DeleteFunc(found, func(m *msgState) bool { return e.now.Sub(m.at) > maxDeleteAge })
			if len(found) == 0 {
				return badRequest("message can't be deleted for everyone")
			}
			return nil
		}
		c.apply = func(e *exec) any {
			for _, m := range found {
				m.deleted = true
				if m.pinned {
					e.chat.unpin(m)
				}
				e.rec.MessageIDs = append(e.rec.MessageIDs, m.id)
			}
			e.rec.MessageID = e.rec.MessageIDs[0]
			if !many {
				e.rec.MessageIDs = nil
			}
			return true
		}
		return c, nil
	}
}

// unpin clears m's pin.
func (c *chatState) unpin(m *msgState) {
	m.pinned = false
	c.pins = slices.DeleteFunc(c.pins, func(id int64) bool { return id == m.id })
}

// parsePin reads pinChatMessage (pin) and unpinChatMessage; the latter
// without message_id unpins the most recently pinned message.
func parsePin(pin bool) func(*Sandbox, *args) (*call, *apiErr) {
	return func(_ *Sandbox, a *args) (*call, *apiErr) {
		chat, e := a.chat("chat_id")
		if e != nil {
			return nil, e
		}
		id, ok, e := a.int("message_id")
		if e != nil {
			return nil, e
		}
		if pin && !ok {
			return nil, badRequest("message identifier is not specified")
		}
		c := &call{chat: &chat}
		c.rec.MessageID = id
		var m *msgState
		c.check = func(e *exec) *apiErr {
			if !ok {
				return nil
			}
			if m = e.chat.live(id); m == nil {
				if pin {
					return badRequest("message to pin not found")
				}
				return badRequest("message to unpin not found")
			}
			return nil
		}
		c.apply = func(e *exec) any {
			switch {
			case pin:
				e.chat.unpin(m)
				m.pinned = true
				e.chat.pins = append(e.chat.pins, m.id)
			case m != nil:
				e.chat.unpin(m)
			case len(e.chat.pins) > 0:
				last := e.chat.msgs[e.chat.pins[len(e.chat.pins)-1]]
				e.chat.unpin(last)
				e.rec.MessageID = last.id
			}
			return true
		}
		return c, nil
	}
}

// chatActions are sendChatAction's actions.
var chatActions = []string{
	"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
	"upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
}

func parseChatAction(_ *Sandbox, a *args) (*call, *apiErr) {
	chat, e := a.chat("chat_id")
	if e != nil {
		return nil, e
	}
	action := a.v["action"]
	if action == "" {
		return nil, badRequest("action is empty")
	}
	if !slices.Contains(chatActions, action) {
		return nil, badRequest("wrong parameter action in request")
	}
	c := &call{chat: &chat, apply: trueResult}
	c.rec.Action = action
	return c, nil
}

// parseDraft reads sendMessageDraft: a partial message streamed to a
// private chat while an answer is generated. It changes no message (the
// final text comes with sendMessage); the record keeps the draft's text and
// id (in Action, as "draft:<id>").
func parseDraft(_ *Sandbox, a *args) (*call, *apiErr) {
	chat, e := a.chat("chat_id")
	if e != nil {
		return nil, e
	}
	if chat.num <= 0 {
		return nil, badRequest("draft can be sent only to private chats")
	}
	id, ok, e := a.int("draft_id")
	if e != nil {
		return nil, e
	}
	if !ok || id == 0 {
		return nil, badRequest("draft_id must be non-zero")
	}
	text := a.v["text"]
	if n := utf16Len(text); n == 0 || n > 4096 {
		return nil, badRequest("text must be 1-4096 characters")
	}
	c := &call{chat: &chat, apply: trueResult}
	c.rec.Text = text
	c.rec.Action = "draft:" + strconv.FormatInt(id, 10)
	return c, nil
}

func parseAnswerCallback(_ *Sandbox, a *args) (*call, *apiErr) {
	id := a.v["callback_query_id"]
	if id == "" {
		return nil, badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	text := a.v["text"]
	if utf16Len(text) > 200 {
		return nil, badRequest("MESSAGE_TOO_LONG")
	}
	if _, e := a.bool("show_alert"); e != nil {
		return nil, e
	}
	c := &call{apply: trueResult}
	c.rec.CallbackQueryID, c.rec.Text = id, text
	return c, nil
}

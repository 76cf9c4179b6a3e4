package sandbox

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/mymmrac/telego"
)

// msgState is one message the sandbox holds in a chat: what Telegram would
// show and what happened to it.
type msgState struct {
	id       int64
	at       time.Time
	threadID int64
	kind     string
	content  content
	groupID  string
	forward  json.RawMessage // forward_origin
	deleted  bool
	pinned   bool
	edits    int
	editedAt time.Time
}

// content is what a message shows; edits replace parts of it and copies
// duplicate it.
type content struct {
	text            string // visible text, after entities parsing
	entities        json.RawMessage
	textKey         string // formatting by parse mode, see formatted.markupKey
	caption         string // visible caption
	captionEntities json.RawMessage
	captionKey      string
	file            *fileInfo
	extra           json.RawMessage // location, venue, contact, poll or dice, under the kind's name
	markup          json.RawMessage // inline keyboard, compacted
}

// setText sets the text, its entities and formatting.
func (c *content) setText(f *formatted) {
	c.text, c.entities, c.textKey = f.visible, f.entities, f.markupKey()
}

// setCaption sets the caption, its entities and formatting.
func (c *content) setCaption(f *formatted) {
	c.caption, c.captionEntities, c.captionKey = f.visible, f.entities, f.markupKey()
}

// sameAs reports whether an edit to c would change nothing.
func (c *content) sameAs(o *content) bool {
	return c.text == o.text && bytes.Equal(c.entities, o.entities) && c.textKey == o.textKey &&
		c.caption == o.caption && bytes.Equal(c.captionEntities, o.captionEntities) && c.captionKey == o.captionKey &&
		c.file == o.file &&
		bytes.Equal(c.extra, o.extra) && bytes.Equal(c.markup, o.markup)
}

// hasCaption reports whether a message of kind can carry a caption.
func hasCaption(kind string) bool {
	switch kind {
	case kindPhoto, kindVideo, kindAnimation, kindAudio, kindDocument, kindVoice:
		return true
	}
	return false
}

// messageResult is the subset of telego.Message the sandbox fills in.
type messageResult struct {
	MessageID       int64           `json:"message_id"`
	MessageThreadID int64           `json:"message_thread_id,omitempty"`
	From            *telego.User    `json:"from"`
	Chat            telego.Chat     `json:"chat"`
	Date            int64           `json:"date"`
	EditDate        int64           `json:"edit_date,omitempty"`
	MediaGroupID    string          `json:"media_group_id,omitempty"`
	ForwardOrigin   json.RawMessage `json:"forward_origin,omitempty"`
	Text            string          `json:"text,omitempty"`
	Entities        json.RawMessage `json:"entities,omitempty"`
	Caption         string          `json:"caption,omitempty"`
	CaptionEntities json.RawMessage `json:"caption_entities,omitempty"`
	Photo           []*fileObj      `json:"photo,omitempty"`
	Video           *fileObj        `json:"video,omitempty"`
	Animation       *fileObj        `json:"animation,omitempty"`
	Audio           *fileObj        `json:"audio,omitempty"`
	Document        *fileObj        `json:"document,omitempty"`
	Voice           *fileObj        `json:"voice,omitempty"`
	VideoNote       *fileObj        `json:"video_note,omitempty"`
	Sticker         *fileObj        `json:"sticker,omitempty"`
	Location        json.RawMessage `json:"location,omitempty"`
	Venue           json.RawMessage `json:"venue,omitempty"`
	Contact         json.RawMessage `json:"contact,omitempty"`
	Poll            json.RawMessage `json:"poll,omitempty"`
	Dice            json.RawMessage `json:"dice,omitempty"`
	ReplyMarkup     json.RawMessage `json:"reply_markup,omitempty"`
}

// result describes m as Telegram does in a Message.
func (s *Sandbox) result(bot int64, chat *chatRef, m *msgState) *messageResult {
	r := &messageResult{
		MessageID:       m.id,
		MessageThreadID: m.threadID,
		From:            s.botUser(bot),
		Chat:            chat.telegoChat(),
		Date:            m.at.Unix(),
		MediaGroupID:    m.groupID,
		ForwardOrigin:   m.forward,
		Text:            m.content.text,
		Entities:        m.content.entities,
		Caption:         m.content.caption,
		CaptionEntities: m.content.captionEntities,
		ReplyMarkup:     m.content.markup,
	}
	if !m.editedAt.IsZero() {
		r.EditDate = m.editedAt.Unix()
	}
	if f := m.content.file; f != nil {
		o := f.obj()
		switch m.kind {
		case kindPhoto:
			r.Photo = []*fileObj{o}
		case kindVideo:
			r.Video = o
		case kindAnimation:
			r.Animation = o
		case kindAudio:
			r.Audio = o
		case kindDocument:
			r.Document = o
		case kindVoice:
			r.Voice = o
		case kindVideoNote:
			r.VideoNote = o
		case kindSticker:
			r.Sticker = o
		}
	}
	switch m.kind {
	case kindLocation:
		r.Location = m.content.extra
	case kindVenue:
		r.Venue = m.content.extra
	case kindContact:
		r.Contact = m.content.extra
	case kindPoll:
		r.Poll = m.content.extra
	case kindDice:
		r.Dice = m.content.extra
	}
	return r
}

// Kinds of messages without a file.
const (
	kindLocation = "location"
	kindVenue    = "venue"
	kindContact  = "contact"
	kindPoll     = "poll"
	kindDice     = "dice"
)

// MessageState is the current state of one message in a chat: what it
// shows after every edit, and whether it was deleted or pinned.
type MessageState struct {
	BotID     int64  `json:"bot_id"`
	ChatID    string `json:"chat_id"`
	MessageID int64  `json:"message_id"`
	// Kind is "text", a media kind ("photo", "video", "animation", "audio",
	// "document", "voice", "video_note", "sticker") or "location", "venue",
	// "contact", "poll", "dice".
	Kind string `json:"kind"`
	// Text and Caption are as Telegram shows them, after entities parsing.
	Text    string `json:"text,omitempty"`
	Caption string `json:"caption,omitempty"`
	// FileID is the media's file_id.
	FileID       string `json:"file_id,omitempty"`
	MediaGroupID string `json:"media_group_id,omitempty"`
	// ReplyMarkup is the inline keyboard, if any.
	ReplyMarkup json.RawMessage `json:"reply_markup,omitempty"`
	// Forwarded reports a message made by forwardMessage(s).
	Forwarded bool `json:"forwarded,omitempty"`
	Deleted   bool `json:"deleted,omitempty"`
	Pinned    bool `json:"pinned,omitempty"`
	// Edits counts the successful edits.
	Edits    int       `json:"edits,omitempty"`
	SentAt   time.Time `json:"sent_at"`
	EditedAt time.Time `json:"edited_at,omitzero"`
}

func (m *msgState) state(bot int64, chat string) MessageState {
	st := MessageState{
		BotID: bot, ChatID: chat, MessageID: m.id, Kind: m.kind,
		Text: m.content.text, Caption: m.content.caption, MediaGroupID: m.groupID,
		ReplyMarkup: m.content.markup, Forwarded: m.forward != nil,
		Deleted: m.deleted, Pinned: m.pinned, Edits: m.edits, SentAt: m.at, EditedAt: m.editedAt,
	}
	if m.content.file != nil {
		st.FileID = m.content.file.id
	}
	return st
}

// Message returns the current state of message id in chat ("42",
// "-100123" or "@name") of bot, and false if the bot never sent it.
func (s *Sandbox) Message(bot int64, chat string, id int64) (MessageState, bool) {
	_, key, ok := parseChatID(chat)
	if !ok {
		return MessageState{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[chatKey{bot: bot, chat: key}]
	if c == nil || c.msgs[id] == nil {
		return MessageState{}, false
	}
	return c.msgs[id].state(bot, c.id), true
}

// ChatMessages returns the state of every message bot sent to chat, by
// message id.
func (s *Sandbox) ChatMessages(bot int64, chat string) []MessageState {
	_, key, ok := parseChatID(chat)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chats[chatKey{bot: bot, chat: key}]
	if c == nil {
		return nil
	}
	out := make([]MessageState, 0, len(c.msgs))
	for id := int64(1); id <= c.nextMessageID; id++ {
		if m := c.msgs[id]; m != nil {
			out = append(out, m.state(bot, c.id))
		}
	}
	return out
}

// live returns message id of c unless it is unknown or deleted.
func (c *chatState) live(id int64) *msgState {
	if c == nil {
		return nil
	}
	if m := c.msgs[id]; m != nil && !m.deleted {
		return m
	}
	return nil
}

// newMessage adds a message to c and returns it.
func (c *chatState) newMessage(at time.Time, threadID int64, kind string, ct content) *msgState {
	c.nextMessageID++
	m := &msgState{id: c.nextMessageID, at: at, threadID: threadID, kind: kind, content: ct}
	if c.msgs == nil {
		c.msgs = make(map[int64]*msgState)
	}
	c.msgs[m.id] = m
	return m
}

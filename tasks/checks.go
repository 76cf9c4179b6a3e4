package tasks

import (
	"encoding/json"

	"github.com/mymmrac/telego"
)

// The methods' own rules, beyond their parameters' types (see methodTable).
// Each reads what it needs with params.decodeInto; readParams already
// checked every parameter's type, chat ids, reply_markup, reply_parameters,
// files and album items.

// Limits of the Bot API checked before a call is queued.
const (
	MaxPollQuestion       = 300
	MaxPollOptions        = 12
	MaxPollOption         = 100
	MaxCallbackText       = 200
	MaxMessageIDs         = 100 // copyMessages, forwardMessages, deleteMessages
	MaxVenueTitle         = 256
	MaxContactPhoneNumber = 64
)

// checkCaption checks a media send's caption.
func checkCaption(p *params) error {
	var v struct {
		Caption         string                 `json:"caption"`
		ParseMode       string                 `json:"parse_mode"`
		CaptionEntities []telego.MessageEntity `json:"caption_entities"`
	}
	p.decodeInto(&v)
	return validateCaption(captionFields, v.Caption, v.ParseMode, v.CaptionEntities)
}

// checkAlbum: an album counts as its number of items (checkMedia checked
// 2–10 items of compatible kinds).
func checkAlbum(p *params) error {
	var items []json.RawMessage
	_ = json.Unmarshal(p.raw["media"], &items)
	p.cost = len(items)
	return nil
}

func checkLocation(p *params) error {
	var v struct {
		Latitude           float64 `json:"latitude"`
		Longitude          float64 `json:"longitude"`
		HorizontalAccuracy float64 `json:"horizontal_accuracy"`
		LivePeriod         int     `json:"live_period"`
	}
	p.decodeInto(&v)
	if err := checkCoordinates(v.Latitude, v.Longitude); err != nil {
		return err
	}
	if v.HorizontalAccuracy < 0 || v.HorizontalAccuracy > 1500 {
		return invalid("horizontal_accuracy", ErrInvalidField, "0 to 1500 meters")
	}
	if v.LivePeriod != 0 && v.LivePeriod != 0x7FFFFFFF && (v.LivePeriod < 60 || v.LivePeriod > 86400) {
		return invalid("live_period", ErrInvalidField, "60 to 86400 seconds, or 0x7FFFFFFF for an indefinite period")
	}
	return nil
}

func checkCoordinates(lat, lon float64) error {
	if lat < -90 || lat > 90 {
		return invalid("latitude", ErrInvalidField, "%g: -90 to 90", lat)
	}
	if lon < -180 || lon > 180 {
		return invalid("longitude", ErrInvalidField, "%g: -180 to 180", lon)
	}
	return nil
}

func checkVenue(p *params) error {
	var v struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Title     string  `json:"title"`
		Address   string  `json:"address"`
	}
	p.decodeInto(&v)
	if err := checkCoordinates(v.Latitude, v.Longitude); err != nil {
		return err
	}
	if err := checkPlain("title", v.Title, MaxVenueTitle); err != nil {
		return err
	}
	return checkPlain("address", v.Address, MaxVenueTitle)
}

func checkContact(p *params) error {
	var v struct {
		PhoneNumber string `json:"phone_number"`
		FirstName   string `json:"first_name"`
	}
	p.decodeInto(&v)
	if err := checkPlain("phone_number", v.PhoneNumber, MaxContactPhoneNumber); err != nil {
		return err
	}
	return checkPlain("first_name", v.FirstName, MaxVenueTitle)
}

// checkPlain checks a required plain-text parameter of 1 to limit
// characters (UTF-16 units, as Telegram counts).
func checkPlain(field, s string, limit int) error {
	n := UTF16Len(s)
	switch {
	case n == 0 || isBlank(s):
		return &ValidationError{Field: field, Err: ErrEmptyText}
	case n > limit:
		return invalid(field, ErrTextTooLong, "%d characters, the limit is %d", n, limit)
	}
	return nil
}

func checkPoll(p *params) error {
	var v struct {
		Question string `json:"question"`
		Options  []struct {
			Text string `json:"text"`
		} `json:"options"`
		Type            string `json:"type"`
		CorrectOptionID *int   `json:"correct_option_id"`
		OpenPeriod      int    `json:"open_period"`
	}
	p.decodeInto(&v)
	if err := checkPlain("question", v.Question, MaxPollQuestion); err != nil {
		return err
	}
	if len(v.Options) < 2 || len(v.Options) > MaxPollOptions {
		return invalid("options", ErrInvalidField, "a poll has 2 to %d options, not %d", MaxPollOptions, len(v.Options))
	}
	for i, o := range v.Options {
		if err := checkPlain("options["+itoa(i)+"].text", o.Text, MaxPollOption); err != nil {
			return err
		}
	}
	switch v.Type {
	case "", "regular":
		if v.CorrectOptionID != nil {
			return invalid("correct_option_id", ErrInvalidField, "only a quiz has a correct option")
		}
	case "quiz":
		if v.CorrectOptionID == nil || *v.CorrectOptionID < 0 || *v.CorrectOptionID >= len(v.Options) {
			return invalid("correct_option_id", ErrInvalidField, "a quiz needs the index of its correct option")
		}
	default:
		return invalid("type", ErrInvalidField, "%q: regular or quiz", v.Type)
	}
	if v.OpenPeriod != 0 && (v.OpenPeriod < 5 || v.OpenPeriod > 600) {
		return invalid("open_period", ErrInvalidField, "5 to 600 seconds")
	}
	return nil
}

var diceEmoji = map[string]bool{"": true, "🎲": true, "🎯": true, "🏀": true, "⚽": true, "🎳": true, "🎰": true}

func checkDice(p *params) error {
	var v struct {
		Emoji string `json:"emoji"`
	}
	p.decodeInto(&v)
	if !diceEmoji[v.Emoji] {
		return invalid("emoji", ErrInvalidField, "%q: one of 🎲 🎯 🏀 ⚽ 🎳 🎰", v.Emoji)
	}
	return nil
}

// checkCopy checks copyMessage: its source and its new caption.
func checkCopy(p *params) error {
	if err := checkCaption(p); err != nil {
		return err
	}
	return checkSource(p)
}

// checkSource: copies and forwards name a message of from_chat_id
// (message_id was checked as a parameter).
func checkSource(*params) error { return nil }

// checkMessageIDs checks message_ids: 1 to 100 ids in strictly increasing
// order. Copies and forwards count as the messages they create.
func checkMessageIDs(p *params) error {
	var ids []int64
	if err := json.Unmarshal(p.raw["message_ids"], &ids); err != nil {
		return invalid("message_ids", ErrInvalidField, "want an array of message ids")
	}
	if len(ids) == 0 || len(ids) > MaxMessageIDs {
		return invalid("message_ids", ErrInvalidField, "1 to %d ids, not %d", MaxMessageIDs, len(ids))
	}
	for i, id := range ids {
		if id <= 0 || id > maxMessageID {
			return invalid("message_ids", ErrInvalidField, "id %d: a message id is 1 to %d", id, maxMessageID)
		}
		if i > 0 && id <= ids[i-1] {
			return invalid("message_ids", ErrInvalidField, "ids must be strictly increasing (%d after %d)", id, ids[i-1])
		}
	}
	if p.m.Kind == KindSend {
		p.cost = len(ids)
	}
	return nil
}

// checkEditTarget: an edit names chat_id and message_id, or
// inline_message_id, not both.
func checkEditTarget(p *params) error {
	var v struct {
		MessageID       int    `json:"message_id"`
		InlineMessageID string `json:"inline_message_id"`
	}
	p.decodeInto(&v)
	_, hasChat := p.raw["chat_id"]
	if p.ref != nil {
		// message_task_id names the message, and its chat unless given.
		hasChat, v.MessageID = true, 1
	}
	switch {
	case v.InlineMessageID != "":
		if hasChat || v.MessageID != 0 {
			return invalid("inline_message_id", ErrInvalidField, "set either inline_message_id or chat_id and message_id")
		}
		p.inline = v.InlineMessageID
	case !hasChat:
		return &ValidationError{Field: "chat_id", Err: ErrMissingChat}
	case v.MessageID == 0:
		return &ValidationError{Field: "message_id", Err: ErrMissingField, Detail: "an edit names the message"}
	}
	return nil
}

func checkEditText(p *params) error {
	if err := checkEditTarget(p); err != nil {
		return err
	}
	var v struct {
		Text      string                 `json:"text"`
		ParseMode string                 `json:"parse_mode"`
		Entities  []telego.MessageEntity `json:"entities"`
	}
	p.decodeInto(&v)
	return validateText(textFields, v.Text, v.ParseMode, v.Entities, MaxTextLength)
}

func checkEditCaption(p *params) error {
	if err := checkEditTarget(p); err != nil {
		return err
	}
	return checkCaption(p)
}

func checkEditMedia(p *params) error { return checkEditTarget(p) }

// checkMessageID: message_id is required (deleteMessage, pinChatMessage).
func checkMessageID(p *params) error {
	if _, ok := p.raw["message_id"]; !ok && p.ref == nil {
		return &ValidationError{Field: "message_id", Err: ErrMissingField}
	}
	return nil
}

// checkOptionalMessageID: unpinChatMessage without message_id unpins the
// most recent pinned message.
func checkOptionalMessageID(*params) error { return nil }

func checkCallback(p *params) error {
	var v struct {
		ID   string `json:"callback_query_id"`
		Text string `json:"text"`
		URL  string `json:"url"`
	}
	p.decodeInto(&v)
	if v.ID == "" {
		return &ValidationError{Field: "callback_query_id", Err: ErrMissingField}
	}
	if n := UTF16Len(v.Text); n > MaxCallbackText {
		return invalid("text", ErrTextTooLong, "%d characters, the limit is %d", n, MaxCallbackText)
	}
	return nil
}

var chatActions = map[string]bool{
	"typing": true, "upload_photo": true, "record_video": true, "upload_video": true,
	"record_voice": true, "upload_voice": true, "upload_document": true, "choose_sticker": true,
	"find_location": true, "record_video_note": true, "upload_video_note": true,
}

func checkChatAction(p *params) error {
	var v struct {
		Action string `json:"action"`
	}
	p.decodeInto(&v)
	if !chatActions[v.Action] {
		return invalid("action", ErrInvalidField, "%q is not a chat action Telegram shows", v.Action)
	}
	return nil
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// checkDraft: a draft goes to a private chat (a positive id), with a
// non-zero draft_id and a text of 1 to 4096 characters.
func checkDraft(p *params) error {
	var v struct {
		ChatID    int64                  `json:"chat_id"`
		DraftID   int64                  `json:"draft_id"`
		Text      string                 `json:"text"`
		ParseMode string                 `json:"parse_mode"`
		Entities  []telego.MessageEntity `json:"entities"`
	}
	p.decodeInto(&v)
	if v.ChatID <= 0 {
		return invalid("chat_id", ErrInvalidChat, "a draft goes to a private chat (a user's id)")
	}
	if v.DraftID == 0 {
		return invalid("draft_id", ErrInvalidField, "must not be 0")
	}
	return validateText(textFields, v.Text, v.ParseMode, v.Entities, MaxTextLength)
}

// checkText checks a sendMessage's text, for a sendMessage queued as a
// call (a reply to a queued message: see TypeSendMessageRef).
func checkText(p *params) error {
	var v struct {
		Text      string                 `json:"text"`
		ParseMode string                 `json:"parse_mode"`
		Entities  []telego.MessageEntity `json:"entities"`
	}
	p.decodeInto(&v)
	return validateText(textFields, v.Text, v.ParseMode, v.Entities, MaxTextLength)
}

package sandbox

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Poll limits (Bot API 2025: up to 12 options).
const (
	maxPollQuestion = 300
	maxPollOptions  = 12
	maxPollOption   = 100
)

// sendBase reads what every send has: chat_id, message_thread_id and
// reply_markup.
func sendBase(a *args) (c *call, threadID int64, markup json.RawMessage, e *apiErr) {
	chat, e := a.chat("chat_id")
	if e != nil {
		return nil, 0, nil, e
	}
	threadID, _, e = a.int("message_thread_id")
	if e != nil {
		return nil, 0, nil, e
	}
	markup, e = a.markup()
	if e != nil {
		return nil, 0, nil, e
	}
	return &call{chat: &chat}, threadID, markup, nil
}

// newMessage adds a message of kind to the call's chat, records its id and
// returns its Message.
func (e *exec) newMessage(threadID int64, kind string, ct content) (*msgState, *messageResult) {
	m := e.chat.newMessage(e.now, threadID, kind, ct)
	if e.rec.MessageID == 0 {
		e.rec.MessageID = m.id
	}
	return m, e.s.result(e.bot, e.ref, m)
}

// parseSendMedia reads sendPhoto, sendVideo, … whose file is in the field
// named kind.
func parseSendMedia(kind string) func(*Sandbox, *args) (*call, *apiErr) {
	return func(_ *Sandbox, a *args) (*call, *apiErr) {
		c, threadID, markup, e := sendBase(a)
		if e != nil {
			return nil, e
		}
		ref, e := a.media(kind, kind, a.v[kind])
		if e != nil {
			return nil, e
		}
		var capt formatted
		if hasCaption(kind) {
			if capt, e = a.caption(); e != nil {
				return nil, e
			}
		}
		c.rec.Caption, c.rec.ParseMode = capt.raw, capt.parseMode
		c.check = func(e *exec) *apiErr { return e.s.checkFileLocked(e.bot, &ref) }
		c.apply = func(e *exec) any {
			f, mf := e.s.resolveFileLocked(e.bot, &ref)
			e.rec.Media = []MediaFile{mf}
			ct := content{file: f, markup: markup}
			ct.setCaption(&capt)
			_, res := e.newMessage(threadID, kind, ct)
			return res
		}
		return c, nil
	}
}

// inputMedia is one item of sendMediaGroup's media, or editMessageMedia's.
type inputMedia struct {
	Type            string          `json:"type"`
	Media           string          `json:"media"`
	Caption         string          `json:"caption"`
	ParseMode       string          `json:"parse_mode"`
	CaptionEntities json.RawMessage `json:"caption_entities"`
}

// item is a validated inputMedia.
type item struct {
	ref  mediaRef
	capt formatted
}

// readInputMedia validates one InputMedia.
func (a *args) readInputMedia(im *inputMedia) (item, *apiErr) {
	switch im.Type {
	case kindPhoto, kindVideo, kindAnimation, kindAudio, kindDocument:
	default:
		return item{}, badRequest("unsupported input media type \"" + im.Type + "\"")
	}
	if im.Media == "" {
		return item{}, badRequest("there is no media in the request")
	}
	ref, e := a.media(im.Type, "", im.Media)
	if e != nil {
		return item{}, e
	}
	ents := ""
	if len(im.CaptionEntities) > 0 && string(im.CaptionEntities) != "null" {
		ents = string(im.CaptionEntities)
	}
	capt, e := captionOf(im.Caption, im.ParseMode, ents)
	return item{ref: ref, capt: capt}, e
}

func parseSendMediaGroup(_ *Sandbox, a *args) (*call, *apiErr) {
	c, threadID, _, e := sendBase(a)
	if e != nil {
		return nil, e
	}
	var list []inputMedia
	if v := a.v["media"]; v == "" {
		return nil, badRequest("media is empty")
	} else if err := json.Unmarshal([]byte(v), &list); err != nil {
		return nil, badRequest("can't parse media JSON object")
	}
	switch {
	case len(list) < 2:
		return nil, badRequest("media must include 2-10 items")
	case len(list) > 10:
		return nil, badRequest("too many messages to send as an album")
	}
	items := make([]item, len(list))
	for i := range list {
		it, e := a.readInputMedia(&list[i])
		if e != nil {
			return nil, e
		}
		if it.ref.kind == kindAnimation {
			return nil, badRequest("animations can't be sent in albums")
		}
		items[i] = it
	}
	// Audio and document albums are homogeneous; photo and video mix.
	first := items[0].ref.kind
	for _, it := range items[1:] {
		k := it.ref.kind
		if (first == kindAudio || first == kindDocument || k == kindAudio || k == kindDocument) && k != first {
			return nil, badRequest("MEDIA_GROUP_MIXED: " + first + " can't be mixed with " + k + " in an album")
		}
	}
	c.cost = len(items)
	c.rec.Caption, c.rec.ParseMode = items[0].capt.raw, items[0].capt.parseMode
	c.check = func(e *exec) *apiErr {
		for i := range items {
			if err := e.s.checkFileLocked(e.bot, &items[i].ref); err != nil {
				return err
			}
		}
		return nil
	}
	c.apply = func(e *exec) any {
		e.s.groupSeq++
		group := strconv.FormatInt(1_000_000_000_000+e.s.groupSeq, 10)
		e.rec.MediaGroupID = group
		out := make([]*messageResult, len(items))
		for i := range items {
			f, mf := e.s.resolveFileLocked(e.bot, &items[i].ref)
			e.rec.Media = append(e.rec.Media, mf)
			ct := content{file: f}
			ct.setCaption(&items[i].capt)
			m := e.chat.newMessage(e.now, threadID, items[i].ref.kind, ct)
			m.groupID = group
			e.rec.MessageIDs = append(e.rec.MessageIDs, m.id)
			out[i] = e.s.result(e.bot, e.ref, m)
		}
		e.rec.MessageID = e.rec.MessageIDs[0]
		return out
	}
	return c, nil
}

// sendExtra builds the sends whose content is one object: location, venue,
// contact, poll, dice.
func sendExtra(a *args, kind string, build func() (any, *apiErr)) (*call, *apiErr) {
	c, threadID, markup, e := sendBase(a)
	if e != nil {
		return nil, e
	}
	v, e := build()
	if e != nil {
		return nil, e
	}
	extra, err := json.Marshal(v)
	if err != nil {
		return nil, badRequest("can't encode " + kind)
	}
	c.apply = func(e *exec) any {
		ct := content{extra: extra, markup: markup}
		if kind == kindDice {
			// The value is drawn when the dice is sent.
			ct.extra = e.s.rollLocked(extra)
		}
		_, res := e.newMessage(threadID, kind, ct)
		return res
	}
	return c, nil
}

type location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

func readLocation(a *args) (location, *apiErr) {
	lat, e := a.float("latitude")
	if e != nil {
		return location{}, e
	}
	lon, e := a.float("longitude")
	if e != nil {
		return location{}, e
	}
	if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return location{}, badRequest("wrong latitude or longitude specified")
	}
	return location{Latitude: lat, Longitude: lon}, nil
}

func parseSendLocation(_ *Sandbox, a *args) (*call, *apiErr) {
	return sendExtra(a, kindLocation, func() (any, *apiErr) { return readLocation(a) })
}

func parseSendVenue(_ *Sandbox, a *args) (*call, *apiErr) {
	return sendExtra(a, kindVenue, func() (any, *apiErr) {
		loc, e := readLocation(a)
		if e != nil {
			return nil, e
		}
		title, address := a.v["title"], a.v["address"]
		if title == "" {
			return nil, badRequest("title is empty")
		}
		if address == "" {
			return nil, badRequest("address is empty")
		}
		return struct {
			Location location `json:"location"`
			Title    string   `json:"title"`
			Address  string   `json:"address"`
		}{loc, title, address}, nil
	})
}

func parseSendContact(_ *Sandbox, a *args) (*call, *apiErr) {
	return sendExtra(a, kindContact, func() (any, *apiErr) {
		phone, first := a.v["phone_number"], a.v["first_name"]
		if phone == "" {
			return nil, badRequest("phone_number is empty")
		}
		if first == "" {
			return nil, badRequest("first_name is empty")
		}
		return struct {
			PhoneNumber string `json:"phone_number"`
			FirstName   string `json:"first_name"`
			LastName    string `json:"last_name,omitempty"`
		}{phone, first, a.v["last_name"]}, nil
	})
}

type pollOption struct {
	Text       string `json:"text"`
	VoterCount int    `json:"voter_count"`
}

func parseSendPoll(s *Sandbox, a *args) (*call, *apiErr) {
	return sendExtra(a, kindPoll, func() (any, *apiErr) {
		q := a.v["question"]
		if n := utf16Len(strings.TrimSpace(q)); n == 0 {
			return nil, badRequest("poll question must be non-empty")
		} else if n > maxPollQuestion {
			return nil, badRequest("poll question length must not exceed 300")
		}
		raw := a.v["options"]
		if raw == "" {
			return nil, badRequest("poll options must be non-empty")
		}
		// InputPollOption objects, or plain strings as before Bot API 7.3.
		var objs []struct {
			Text string `json:"text"`
		}
		var texts []string
		if err := json.Unmarshal([]byte(raw), &objs); err == nil {
			for _, o := range objs {
				texts = append(texts, o.Text)
			}
		} else if err := json.Unmarshal([]byte(raw), &texts); err != nil {
			return nil, badRequest("can't parse options JSON object")
		}
		switch {
		case len(texts) < 2:
			return nil, badRequest("poll must have at least 2 option")
		case len(texts) > maxPollOptions:
			return nil, badRequest("poll can't have more than 12 options")
		}
		opts := make([]pollOption, len(texts))
		for i, t := range texts {
			if n := utf16Len(strings.TrimSpace(t)); n == 0 || n > maxPollOption {
				return nil, badRequest("poll options length must not exceed 100")
			}
			opts[i] = pollOption{Text: t}
		}
		typ := a.v["type"]
		switch typ {
		case "":
			typ = "regular"
		case "regular", "quiz":
		default:
			return nil, badRequest("wrong poll type specified")
		}
		anon := true
		if a.v["is_anonymous"] != "" {
			var e *apiErr
			if anon, e = a.bool("is_anonymous"); e != nil {
				return nil, e
			}
		}
		multi, e := a.bool("allows_multiple_answers")
		if e != nil {
			return nil, e
		}
		s.mu.Lock()
		s.groupSeq++
		id := strconv.FormatInt(5_000_000_000_000_000+s.groupSeq, 10)
		s.mu.Unlock()
		return struct {
			ID                    string       `json:"id"`
			Question              string       `json:"question"`
			Options               []pollOption `json:"options"`
			TotalVoterCount       int          `json:"total_voter_count"`
			IsClosed              bool         `json:"is_closed"`
			IsAnonymous           bool         `json:"is_anonymous"`
			Type                  string       `json:"type"`
			AllowsMultipleAnswers bool         `json:"allows_multiple_answers"`
		}{ID: id, Question: q, Options: opts, IsAnonymous: anon, Type: typ, AllowsMultipleAnswers: multi}, nil
	})
}

// dice is a sent dice before its value is drawn.
type dice struct {
	Emoji string `json:"emoji"`
	Value int    `json:"value"`
}

func parseSendDice(_ *Sandbox, a *args) (*call, *apiErr) {
	return sendExtra(a, kindDice, func() (any, *apiErr) {
		emoji := a.v["emoji"]
		if emoji == "" {
			emoji = "🎲"
		}
		if diceFaces(emoji) == 0 {
			return nil, badRequest("wrong emoji specified")
		}
		return dice{Emoji: emoji}, nil
	})
}

// diceFaces returns how many values a dice emoji has, 0 for an unknown one.
func diceFaces(emoji string) int {
	switch emoji {
	case "🎲", "🎯", "🎳":
		return 6
	case "🏀", "⚽":
		return 5
	case "🎰":
		return 64
	}
	return 0
}

// rollLocked draws a dice's value from the sandbox's seeded source.
func (s *Sandbox) rollLocked(extra json.RawMessage) json.RawMessage {
	var d dice
	_ = json.Unmarshal(extra, &d)
	d.Value = 1 + s.rnd.IntN(diceFaces(d.Emoji))
	b, _ := json.Marshal(d)
	return b
}

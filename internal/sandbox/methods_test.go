package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mymmrac/telego"
	tu "github.com/mymmrac/telego/telegoutil"
)

const wrongFile = "Bad Request: wrong file identifier/HTTP URL specified"

// mediaFile returns the file of a media message of kind.
func mediaFile(t *testing.T, m *telego.Message, kind string) (id string, size int64) {
	t.Helper()
	switch kind {
	case kindPhoto:
		if len(m.Photo) != 1 {
			t.Fatalf("photo = %+v", m.Photo)
		}
		return m.Photo[0].FileID, int64(m.Photo[0].FileSize)
	case kindVideo:
		return m.Video.FileID, m.Video.FileSize
	case kindAnimation:
		return m.Animation.FileID, m.Animation.FileSize
	case kindAudio:
		return m.Audio.FileID, m.Audio.FileSize
	case kindDocument:
		return m.Document.FileID, m.Document.FileSize
	case kindVoice:
		return m.Voice.FileID, m.Voice.FileSize
	case kindVideoNote:
		return m.VideoNote.FileID, int64(m.VideoNote.FileSize)
	case kindSticker:
		return m.Sticker.FileID, int64(m.Sticker.FileSize)
	}
	t.Fatalf("kind %s", kind)
	return "", 0
}

// TestSendMedia: every media send by upload (multipart), then by the
// file_id it returned (JSON), by URL (urlencoded), and with an unknown
// file_id; uploads are counted and file ids reused.
func TestSendMedia(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, kind string
		caption      bool
	}{
		{"sendPhoto", kindPhoto, true},
		{"sendVideo", kindVideo, true},
		{"sendAnimation", kindAnimation, true},
		{"sendAudio", kindAudio, true},
		{"sendDocument", kindDocument, true},
		{"sendVoice", kindVoice, true},
		{"sendVideoNote", kindVideoNote, false},
		{"sendSticker", kindSticker, false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			t.Parallel()
			s := newSandbox(t, Config{})
			data := bytes.Repeat([]byte{7}, 1234)
			if tt.kind == kindPhoto {
				data = tinyPNG
			}
			up := message(t, callForm(t, s, tt.method, map[string]string{"chat_id": "42", "caption": "<b>hi</b>", "parse_mode": "HTML"},
				map[string][]byte{tt.kind: data}))
			id, size := mediaFile(t, &up, tt.kind)
			if id == "" || size != int64(len(data)) || up.MessageID != 1 || up.Chat.ID != 42 {
				t.Fatalf("upload: file %q size %d, message %+v", id, size, up)
			}
			if tt.caption && up.Caption != "hi" || !tt.caption && up.Caption != "" {
				t.Errorf("caption = %q", up.Caption)
			}
			if tt.kind == kindPhoto && (up.Photo[0].Width != 3 || up.Photo[0].Height != 2) {
				t.Errorf("photo size %dx%d, want 3x2", up.Photo[0].Width, up.Photo[0].Height)
			}

			again := message(t, callJSON(t, s, tt.method, map[string]any{"chat_id": 42, tt.kind: id}))
			if id2, _ := mediaFile(t, &again, tt.kind); id2 != id || again.MessageID != 2 {
				t.Errorf("by file_id: %q id %d, want %q id 2", id2, again.MessageID, id)
			}
			byURL := message(t, callURL(t, s, tt.method, map[string]string{"chat_id": "42", tt.kind: "https://example.com/f"}))
			if id3, _ := mediaFile(t, &byURL, tt.kind); id3 == "" || id3 == id {
				t.Errorf("by URL: file_id %q", id3)
			}
			fails(t, callJSON(t, s, tt.method, map[string]any{"chat_id": 42, tt.kind: "AgACAgnope"}), 400, wrongFile)
			fails(t, callJSON(t, s, tt.method, map[string]any{"chat_id": 42}), 400,
				"Bad Request: there is no "+strings.ReplaceAll(tt.kind, "_", " ")+" in the request")
			fails(t, callJSON(t, s, tt.method, map[string]any{tt.kind: id}), 400, "Bad Request: chat_id is empty")

			st := s.Stats()
			if st.Uploads != 1 || st.UploadBytes != int64(len(data)) {
				t.Errorf("Uploads %d (%d bytes), want 1 (%d)", st.Uploads, st.UploadBytes, len(data))
			}
			if ms := st.Methods[tt.method]; ms.Requests != 6 || ms.OK != 3 {
				t.Errorf("Methods[%s] = %+v", tt.method, ms)
			}
			recs := s.Messages()
			if len(recs) != 3 {
				t.Fatalf("%d records", len(recs))
			}
			want := []MediaFile{
				{Kind: tt.kind, FileID: id, Source: SourceUpload, Size: int64(len(data)), Name: tt.kind + ".bin"},
				{Kind: tt.kind, FileID: id, Source: SourceFileID},
			}
			for i, w := range want {
				if r := recs[i]; r.Method != tt.method || len(r.Media) != 1 || r.Media[0] != w || r.MessageID != int64(i+1) {
					t.Errorf("record %d = %+v, want %s with %+v", i, r, tt.method, w)
				}
			}
			if recs[2].Media[0].Source != SourceURL {
				t.Errorf("record 3 media %+v", recs[2].Media)
			}
			if st, _ := s.Message(bot1, "42", 1); st.FileID != id || st.Kind != tt.kind {
				t.Errorf("state = %+v", st)
			}
			checkConsistent(t, s.Stats())
		})
	}
}

// A file_id belongs to the bot it was issued to.
func TestFileIDPerBot(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, Config{})
	m := uploadPhoto(t, s, 1, "")
	b, _ := json.Marshal(map[string]any{"chat_id": 1, "photo": m.Photo[0].FileID})
	req := httptest.NewRequest(http.MethodPost, "/bot"+token2+"/sendPhoto", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	fails(t, do(t, s, req), 400, wrongFile)
}

func TestUploadTooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, field string
		size          int
		ok            bool
	}{
		{"sendPhoto", "photo", MaxPhotoUpload + 1, false},
		{"sendPhoto", "photo", MaxPhotoUpload, true},
		{"sendDocument", "document", MaxPhotoUpload + 1, true},
	}
	for _, tt := range tests {
		s := newSandbox(t, Config{})
		r := callForm(t, s, tt.method, map[string]string{"chat_id": "1"}, map[string][]byte{tt.field: make([]byte, tt.size)})
		if tt.ok {
			ok(t, r, nil)
			continue
		}
		fails(t, r, 413, "Request Entity Too Large")
		if st := s.Stats(); st.Uploads != 0 || st.BadRequests != 1 || s.Count() != 0 {
			t.Errorf("%s %d: stats %+v", tt.method, tt.size, st)
		}
	}
}

// A document over 50 MB and a body over the multipart cap answer 413.
func TestUploadTooLargeDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 50 MB")
	}
	s := newSandbox(t, Config{})
	fails(t, callForm(t, s, "sendDocument", map[string]string{"chat_id": "1"},
		map[string][]byte{"document": make([]byte, MaxFileUpload+1)}), 413, "Request Entity Too Large")
	fails(t, callForm(t, s, "sendDocument", map[string]string{"chat_id": "1"},
		map[string][]byte{"document": make([]byte, maxMultipart+1)}), 413, "Request Entity Too Large")
}

func TestSendMediaGroup(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, Config{})
	// Multipart: attach:// uploads, as telego sends them.
	bot := newBot(t, startedFrom(t, s), token1)
	msgs, err := bot.SendMediaGroup(ctx(t), tu.MediaGroup(tu.ID(5),
		tu.MediaPhoto(tu.File(tu.NameReader(bytes.NewReader(tinyPNG), "a.png"))).WithCaption("album"),
		tu.MediaVideo(tu.File(tu.NameReader(strings.NewReader("video"), "b.mp4"))),
		tu.MediaPhoto(tu.FileFromURL("https://example.com/c.jpg")),
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[0].MediaGroupID == "" || msgs[1].MediaGroupID != msgs[0].MediaGroupID ||
		msgs[2].MediaGroupID != msgs[0].MediaGroupID || msgs[0].Caption != "album" || msgs[1].Video == nil {
		t.Fatalf("album = %+v", msgs)
	}
	for i, m := range msgs {
		if m.MessageID != i+1 {
			t.Errorf("message %d id %d", i, m.MessageID)
		}
	}
	rec := s.Messages()[0]
	if rec.Method != "sendMediaGroup" || !slices.Equal(rec.MessageIDs, []int64{1, 2, 3}) || len(rec.Media) != 3 ||
		rec.Media[0].Source != SourceUpload || rec.Media[2].Source != SourceURL || rec.Caption != "album" ||
		rec.MediaGroupID != msgs[0].MediaGroupID {
		t.Errorf("record = %+v", rec)
	}
	if st := s.Stats(); st.Uploads != 2 || st.Delivered != 1 {
		t.Errorf("stats: uploads %d delivered %d", st.Uploads, st.Delivered)
	}
	// JSON, reusing a file_id.
	id := msgs[0].Photo[0].FileID
	item := func(typ, media string) map[string]any { return map[string]any{"type": typ, "media": media} }
	var res []telego.Message
	ok(t, callJSON(t, s, "sendMediaGroup", map[string]any{"chat_id": 5, "media": []any{item("photo", id), item("photo", id)}}), &res)
	if len(res) != 2 || res[1].MessageID != 5 || res[1].Photo[0].FileID != id {
		t.Errorf("by file_id: %+v", res)
	}

	tests := []struct {
		name  string
		media []any
		desc  string
	}{
		{"one item", []any{item("photo", id)}, "Bad Request: media must include 2-10 items"},
		{"eleven items", slices.Repeat([]any{item("photo", id)}, 11), "Bad Request: too many messages to send as an album"},
		{"audio with photo", []any{item("audio", "https://x/a.mp3"), item("photo", id)},
			"Bad Request: MEDIA_GROUP_MIXED: audio can't be mixed with photo in an album"},
		{"photo with document", []any{item("photo", id), item("document", "https://x/d.pdf")},
			"Bad Request: MEDIA_GROUP_MIXED: photo can't be mixed with document in an album"},
		{"unknown file_id", []any{item("photo", id), item("photo", "nope")}, wrongFile},
		{"missing attachment", []any{item("photo", id), item("photo", "attach://gone")}, wrongFile},
		{"bad type", []any{item("sticker", id), item("photo", id)}, `Bad Request: unsupported input media type "sticker"`},
		{"long caption", []any{map[string]any{"type": "photo", "media": id, "caption": strings.Repeat("x", 1025)}, item("photo", id)},
			"Bad Request: message caption is too long"},
	}
	for _, tt := range tests {
		fails(t, callJSON(t, s, "sendMediaGroup", map[string]any{"chat_id": 5, "media": tt.media}), 400, tt.desc)
	}
	// Homogeneous document and audio albums are fine.
	ok(t, callJSON(t, s, "sendMediaGroup", map[string]any{"chat_id": 5,
		"media": []any{item("document", "https://x/1"), item("document", "https://x/2")}}), nil)
	checkConsistent(t, s.Stats())
}

// startedFrom serves s on a loopback port for telego.
func startedFrom(t *testing.T, s *Sandbox) *Sandbox {
	t.Helper()
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSendOthers(t *testing.T) {
	t.Parallel()
	opts := func(n int) []map[string]string {
		out := make([]map[string]string, n)
		for i := range out {
			out[i] = map[string]string{"text": "o" + strconv.Itoa(i)}
		}
		return out
	}
	tests := []struct {
		name   string
		method string
		params map[string]any
		desc   string // "" = success
		check  func(*telego.Message) bool
	}{
		{"location", "sendLocation", map[string]any{"latitude": 51.5, "longitude": -0.12}, "",
			func(m *telego.Message) bool { return m.Location != nil && m.Location.Latitude == 51.5 }},
		{"location missing", "sendLocation", map[string]any{"latitude": 51.5}, "Bad Request: longitude is empty", nil},
		{"location out of range", "sendLocation", map[string]any{"latitude": 91, "longitude": 0},
			"Bad Request: wrong latitude or longitude specified", nil},
		{"venue", "sendVenue", map[string]any{"latitude": 1, "longitude": 2, "title": "Cafe", "address": "Main St"}, "",
			func(m *telego.Message) bool {
				return m.Venue != nil && m.Venue.Title == "Cafe" && m.Venue.Location.Longitude == 2
			}},
		{"venue no title", "sendVenue", map[string]any{"latitude": 1, "longitude": 2, "address": "x"}, "Bad Request: title is empty", nil},
		{"contact", "sendContact", map[string]any{"phone_number": "+100", "first_name": "Ann"}, "",
			func(m *telego.Message) bool { return m.Contact != nil && m.Contact.FirstName == "Ann" }},
		{"contact no phone", "sendContact", map[string]any{"first_name": "Ann"}, "Bad Request: phone_number is empty", nil},
		{"poll", "sendPoll", map[string]any{"question": "Q?", "options": opts(12)}, "",
			func(m *telego.Message) bool {
				return m.Poll != nil && len(m.Poll.Options) == 12 && m.Poll.Question == "Q?"
			}},
		{"poll string options", "sendPoll", map[string]any{"question": "Q?", "options": []string{"a", "b"}}, "",
			func(m *telego.Message) bool { return m.Poll != nil && m.Poll.Options[1].Text == "b" }},
		{"poll one option", "sendPoll", map[string]any{"question": "Q?", "options": opts(1)},
			"Bad Request: poll must have at least 2 option", nil},
		{"poll 13 options", "sendPoll", map[string]any{"question": "Q?", "options": opts(13)},
			"Bad Request: poll can't have more than 12 options", nil},
		{"poll empty question", "sendPoll", map[string]any{"question": " ", "options": opts(2)},
			"Bad Request: poll question must be non-empty", nil},
		{"poll long question", "sendPoll", map[string]any{"question": strings.Repeat("q", 301), "options": opts(2)},
			"Bad Request: poll question length must not exceed 300", nil},
		{"poll long option", "sendPoll", map[string]any{"question": "Q", "options": []string{"a", strings.Repeat("b", 101)}},
			"Bad Request: poll options length must not exceed 100", nil},
		{"dice", "sendDice", map[string]any{"emoji": "🎯"}, "",
			func(m *telego.Message) bool {
				return m.Dice != nil && m.Dice.Emoji == "🎯" && m.Dice.Value >= 1 && m.Dice.Value <= 6
			}},
		{"dice default", "sendDice", map[string]any{}, "",
			func(m *telego.Message) bool { return m.Dice != nil && m.Dice.Emoji == "🎲" }},
		{"dice bad emoji", "sendDice", map[string]any{"emoji": "x"}, "Bad Request: wrong emoji specified", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSandbox(t, Config{})
			tt.params["chat_id"] = -100777
			r := callJSON(t, s, tt.method, tt.params)
			if tt.desc != "" {
				fails(t, r, 400, tt.desc)
				if s.Count() != 0 {
					t.Errorf("recorded a failed call")
				}
				return
			}
			m := message(t, r)
			if m.MessageID != 1 || m.Chat.ID != -100777 || !tt.check(&m) {
				t.Errorf("message = %s", r.Result)
			}
			if st, ok := s.Message(bot1, "-100777", 1); !ok || st.Kind != strings.ToLower(strings.TrimPrefix(tt.method, "send")) {
				t.Errorf("state = %+v", st)
			}
		})
	}
}

func TestCopyForward(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, Config{})
	for i := range 3 {
		sendText(t, s, 10, "m"+strconv.Itoa(i+1))
	}
	photo := uploadPhoto(t, s, 10, "orig") // id 4

	var ref struct {
		MessageID int `json:"message_id"`
	}
	ok(t, callJSON(t, s, "copyMessage", map[string]any{"chat_id": 20, "from_chat_id": 10, "message_id": 4, "caption": "new"}), &ref)
	if ref.MessageID != 1 {
		t.Errorf("copy id %d", ref.MessageID)
	}
	if st, _ := s.Message(bot1, "20", 1); st.Caption != "new" || st.FileID != photo.Photo[0].FileID || st.Forwarded {
		t.Errorf("copy state %+v", st)
	}
	fwd := message(t, callJSON(t, s, "forwardMessage", map[string]any{"chat_id": 20, "from_chat_id": 10, "message_id": 2}))
	if fwd.MessageID != 2 || fwd.Text != "m2" || fwd.ForwardOrigin == nil || fwd.ForwardOrigin.OriginType() != "user" {
		t.Errorf("forward = %+v", fwd)
	}
	var refs []struct {
		MessageID int `json:"message_id"`
	}
	// Missing ids are skipped.
	ok(t, callJSON(t, s, "copyMessages", map[string]any{"chat_id": 20, "from_chat_id": 10, "message_ids": []int{1, 3, 99}}), &refs)
	if len(refs) != 2 || refs[0].MessageID != 3 || refs[1].MessageID != 4 {
		t.Errorf("copyMessages = %+v", refs)
	}
	ok(t, callJSON(t, s, "forwardMessages", map[string]any{"chat_id": 30, "from_chat_id": 10, "message_ids": []int{1, 2}}), &refs)
	if len(refs) != 2 || refs[0].MessageID != 1 {
		t.Errorf("forwardMessages = %+v", refs)
	}
	if st, _ := s.Message(bot1, "30", 2); st.Text != "m2" || !st.Forwarded {
		t.Errorf("forwarded state %+v", st)
	}
	recs := s.Messages()
	last := recs[len(recs)-1]
	if last.Method != "forwardMessages" || last.FromChatID != "10" || !slices.Equal(last.SourceIDs, []int64{1, 2}) ||
		!slices.Equal(last.MessageIDs, []int64{1, 2}) {
		t.Errorf("record = %+v", last)
	}
	if st := s.Stats(); st.Delivered != 8 {
		t.Errorf("Delivered = %d", st.Delivered)
	}

	ok(t, callJSON(t, s, "deleteMessage", map[string]any{"chat_id": 10, "message_id": 3}), nil)
	tests := []struct {
		name   string
		method string
		params map[string]any
		desc   string
	}{
		{"copy unknown", "copyMessage", map[string]any{"from_chat_id": 10, "message_id": 99}, "message to copy not found"},
		{"copy deleted", "copyMessage", map[string]any{"from_chat_id": 10, "message_id": 3}, "message to copy not found"},
		{"copy unknown chat", "copyMessage", map[string]any{"from_chat_id": 11, "message_id": 1}, "message to copy not found"},
		{"forward unknown", "forwardMessage", map[string]any{"from_chat_id": 10, "message_id": 99}, "message to forward not found"},
		{"copyMessages none", "copyMessages", map[string]any{"from_chat_id": 10, "message_ids": []int{3, 50}}, "message to copy not found"},
		{"forwardMessages none", "forwardMessages", map[string]any{"from_chat_id": 10, "message_ids": []int{50}}, "message to forward not found"},
		{"not increasing", "copyMessages", map[string]any{"from_chat_id": 10, "message_ids": []int{2, 1}},
			"message identifiers must be positive and in strictly increasing order"},
		{"duplicate", "forwardMessages", map[string]any{"from_chat_id": 10, "message_ids": []int{1, 1}},
			"message identifiers must be positive and in strictly increasing order"},
		{"101 ids", "deleteMessages", map[string]any{"message_ids": slices.Collect(func(yield func(int) bool) {
			for i := 1; i <= 101; i++ {
				yield(i)
			}
		})}, "too many message identifiers specified"},
		{"no ids", "forwardMessages", map[string]any{"from_chat_id": 10, "message_ids": []int{}}, "message_ids is empty"},
		{"no from_chat_id", "copyMessage", map[string]any{"message_id": 1}, "from_chat_id is empty"},
		{"paid forward", "forwardMessage", map[string]any{"from_chat_id": 10, "message_id": 1, "allow_paid_broadcast": true},
			"allow_paid_broadcast can't be used with forwardMessage"},
		{"paid copyMessages", "copyMessages", map[string]any{"from_chat_id": 10, "message_ids": []int{1}, "allow_paid_broadcast": true},
			"allow_paid_broadcast can't be used with copyMessages"},
	}
	for _, tt := range tests {
		tt.params["chat_id"] = 20
		r := callJSON(t, s, tt.method, tt.params)
		if r.Ok || r.ErrorCode != 400 || r.Description != "Bad Request: "+tt.desc {
			t.Errorf("%s: %d %q, want 400 %q", tt.name, r.ErrorCode, r.Description, tt.desc)
		}
	}
	// copyMessage accepts allow_paid_broadcast and counts against Paid.
	ok(t, callJSON(t, s, "copyMessage", map[string]any{"chat_id": 20, "from_chat_id": 10, "message_id": 1, "allow_paid_broadcast": true}), nil)
	if b := s.Stats().Bots[bot1]; b.Paid != 1 {
		t.Errorf("Paid = %d", b.Paid)
	}
	checkConsistent(t, s.Stats())
}

const notModified = "Bad Request: message is not modified: specified new message content and reply markup are " +
	"exactly the same as a current content and reply markup of the message"

func TestEdits(t *testing.T) {
	t.Parallel()
	kb := map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "A", "callback_data": "a"}}}}
	type step struct {
		method string
		params map[string]any
		desc   string // "" = success
	}
	tests := []struct {
		name  string
		steps []step
		want  MessageState // of message 1 (text) or 2 (photo) after the steps
		id    int64
	}{
		{"text", []step{{"editMessageText", map[string]any{"message_id": 1, "text": "v2"}, ""}},
			MessageState{Kind: "text", Text: "v2", Edits: 1}, 1},
		{"text with markup then same", []step{
			{"editMessageText", map[string]any{"message_id": 1, "text": "v1", "reply_markup": kb}, ""},
			{"editMessageText", map[string]any{"message_id": 1, "text": "v1", "reply_markup": kb}, notModified},
		}, MessageState{Kind: "text", Text: "v1", Edits: 1}, 1},
		{"identical text", []step{{"editMessageText", map[string]any{"message_id": 1, "text": "v1"}, notModified}},
			MessageState{Kind: "text", Text: "v1"}, 1},
		{"identical HTML without tags", []step{{"editMessageText", map[string]any{"message_id": 1, "text": "v1", "parse_mode": "HTML"}, notModified}},
			MessageState{Kind: "text", Text: "v1"}, 1},
		{"same visible text, new formatting", []step{
			{"editMessageText", map[string]any{"message_id": 1, "text": "<i>v1</i>", "parse_mode": "HTML"}, ""},
			{"editMessageText", map[string]any{"message_id": 1, "text": "<i>v1</i>", "parse_mode": "html"}, notModified},
		}, MessageState{Kind: "text", Text: "v1", Edits: 1}, 1},
		{"same caption, new entities", []step{
			{"editMessageCaption", map[string]any{"message_id": 2, "caption": "cap", "caption_entities": []map[string]any{{"type": "bold", "offset": 0, "length": 3}}}, ""},
		}, MessageState{Kind: "photo", Caption: "cap", Edits: 1}, 2},
		{"unknown", []step{{"editMessageText", map[string]any{"message_id": 9, "text": "x"}, "Bad Request: message to edit not found"}},
			MessageState{Kind: "text", Text: "v1"}, 1},
		{"deleted", []step{
			{"deleteMessage", map[string]any{"message_id": 1}, ""},
			{"editMessageText", map[string]any{"message_id": 1, "text": "x"}, "Bad Request: message to edit not found"},
		}, MessageState{Kind: "text", Text: "v1", Deleted: true}, 1},
		{"text of a photo", []step{{"editMessageText", map[string]any{"message_id": 2, "text": "x"}, "Bad Request: there is no text in the message to edit"}},
			MessageState{Kind: "photo", Caption: "cap"}, 2},
		{"caption", []step{{"editMessageCaption", map[string]any{"message_id": 2, "caption": "cap2"}, ""}},
			MessageState{Kind: "photo", Caption: "cap2", Edits: 1}, 2},
		{"same caption", []step{{"editMessageCaption", map[string]any{"message_id": 2, "caption": "cap"}, notModified}},
			MessageState{Kind: "photo", Caption: "cap"}, 2},
		{"caption removed", []step{{"editMessageCaption", map[string]any{"message_id": 2}, ""}},
			MessageState{Kind: "photo", Edits: 1}, 2},
		{"caption too long", []step{{"editMessageCaption", map[string]any{"message_id": 2, "caption": strings.Repeat("c", 1025)}, "Bad Request: message caption is too long"}},
			MessageState{Kind: "photo", Caption: "cap"}, 2},
		{"caption of a text", []step{{"editMessageCaption", map[string]any{"message_id": 1, "caption": "c"}, "Bad Request: there is no caption in the message to edit"}},
			MessageState{Kind: "text", Text: "v1"}, 1},
		{"markup", []step{
			{"editMessageReplyMarkup", map[string]any{"message_id": 1, "reply_markup": kb}, ""},
			{"editMessageReplyMarkup", map[string]any{"message_id": 1, "reply_markup": kb}, notModified},
			{"editMessageReplyMarkup", map[string]any{"message_id": 1}, ""},
		}, MessageState{Kind: "text", Text: "v1", Edits: 2}, 1},
		{"media by URL", []step{{"editMessageMedia", map[string]any{"message_id": 2, "media": map[string]any{"type": "video", "media": "https://x/v.mp4", "caption": "vid"}}, ""}},
			MessageState{Kind: "video", Caption: "vid", Edits: 1}, 2},
		{"media unknown file", []step{{"editMessageMedia", map[string]any{"message_id": 2, "media": map[string]any{"type": "photo", "media": "nope"}}, wrongFile}},
			MessageState{Kind: "photo", Caption: "cap"}, 2},
		{"media of a text", []step{{"editMessageMedia", map[string]any{"message_id": 1, "media": map[string]any{"type": "photo", "media": "https://x/p"}}, "Bad Request: there is no media in the message to edit"}},
			MessageState{Kind: "text", Text: "v1"}, 1},
		{"forwarded", []step{
			{"forwardMessage", map[string]any{"from_chat_id": 7, "message_id": 1}, ""},
			{"editMessageText", map[string]any{"message_id": 3, "text": "x"}, "Bad Request: message can't be edited"},
		}, MessageState{Kind: "text", Text: "v1", Forwarded: true}, 3},
		{"paid edit", []step{{"editMessageText", map[string]any{"message_id": 1, "text": "x", "allow_paid_broadcast": true}, "Bad Request: allow_paid_broadcast can't be used with editMessageText"}},
			MessageState{Kind: "text", Text: "v1"}, 1},
		{"no message_id", []step{{"editMessageText", map[string]any{"text": "x"}, "Bad Request: message identifier is not specified"}},
			MessageState{Kind: "text", Text: "v1"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSandbox(t, Config{})
			sendText(t, s, 7, "v1")
			photo := uploadPhoto(t, s, 7, "cap")
			for i, st := range tt.steps {
				st.params["chat_id"] = 7
				r := callJSON(t, s, st.method, st.params)
				if st.desc != "" {
					fails(t, r, 400, st.desc)
					continue
				}
				if st.method == "deleteMessage" || st.method == "forwardMessage" {
					ok(t, r, nil)
					continue
				}
				m := message(t, r)
				if m.MessageID != int(tt.id) || m.EditDate == 0 {
					t.Errorf("step %d: %s", i, r.Result)
				}
			}
			got, found := s.Message(bot1, "7", tt.id)
			if !found {
				t.Fatal("no state")
			}
			if tt.id == 2 && tt.want.Kind == "photo" && got.FileID != photo.Photo[0].FileID {
				t.Errorf("file changed: %+v", got)
			}
			want := tt.want
			if got.MediaGroupID != "" || (got.Edits > 0) == got.EditedAt.IsZero() || got.Kind != want.Kind || got.Text != want.Text || got.Caption != want.Caption ||
				got.Edits != want.Edits || got.Deleted != want.Deleted || got.Pinned != want.Pinned || got.Forwarded != want.Forwarded {
				t.Errorf("state = %+v, want %+v", got, want)
			}
			checkConsistent(t, s.Stats())
		})
	}
}

// editMessageMedia with an upload replaces the file, via telego multipart.
func TestEditMediaUpload(t *testing.T) {
	t.Parallel()
	s := startedFrom(t, newSandbox(t, Config{}))
	b := newBot(t, s, token1)
	orig, err := b.SendPhoto(ctx(t), tu.Photo(tu.ID(3), tu.File(tu.NameReader(bytes.NewReader(tinyPNG), "a.png"))).WithCaption("one"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.EditMessageMedia(ctx(t), &telego.EditMessageMediaParams{ChatID: tu.ID(3), MessageID: orig.MessageID,
		Media: tu.MediaDocument(tu.File(tu.NameReader(strings.NewReader("pdf"), "r.pdf"))).WithCaption("two")})
	if err != nil {
		t.Fatal(err)
	}
	if m.Document == nil || m.Document.FileName != "r.pdf" || m.Caption != "two" {
		t.Fatalf("edited = %+v", m)
	}
	st, _ := s.Message(bot1, "3", int64(orig.MessageID))
	if st.Kind != "document" || st.FileID != m.Document.FileID || st.Caption != "two" || st.Edits != 1 {
		t.Errorf("state = %+v", st)
	}
	if s.Stats().Uploads != 2 {
		t.Errorf("Uploads = %d", s.Stats().Uploads)
	}
	// The same file_id and caption again: not modified.
	_, err = b.EditMessageMedia(ctx(t), &telego.EditMessageMediaParams{ChatID: tu.ID(3), MessageID: orig.MessageID,
		Media: tu.MediaDocument(tu.FileFromID(m.Document.FileID)).WithCaption("two")})
	if e := apiError(t, err); e.Description != notModified {
		t.Errorf("err = %v", e)
	}
	// Inline edits answer true.
	var res bool
	ok(t, callJSON(t, s, "editMessageText", map[string]any{"inline_message_id": "AAA", "text": "x"}), &res)
	if !res || s.Messages()[len(s.Messages())-1].InlineMessageID != "AAA" {
		t.Errorf("inline edit: %v", res)
	}
}

func TestNotEditableRule(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, Config{})
	s.AddRule(Rule{Kind: KindNotEditable, Times: 1})
	sendText(t, s, 1, "a") // the rule skips sends
	fails(t, callJSON(t, s, "editMessageText", map[string]any{"chat_id": 1, "message_id": 1, "text": "b"}),
		400, "Bad Request: message can't be edited")
	ok(t, callJSON(t, s, "editMessageText", map[string]any{"chat_id": 1, "message_id": 1, "text": "b"}), nil)
	if st := s.Stats(); st.Faults[KindNotEditable] != 1 {
		t.Errorf("Faults = %v", st.Faults)
	}
	checkConsistent(t, s.Stats())
}

// Rules apply to any method: a named one to that method only, "" to all but
// getMe.
func TestRulesAnyMethod(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, Config{})
	s.AddRule(Rule{Method: "sendPhoto", Kind: KindBlocked})
	sendText(t, s, 1, "a")
	fails(t, callJSON(t, s, "sendPhoto", map[string]any{"chat_id": 1, "photo": "https://x/p"}), 403, "Forbidden: bot was blocked by the user")
	s.ClearRules()
	s.AddRule(Rule{Kind: KindTooManyRequests, Chat: "1", RetryAfter: 5, Times: 1})
	r := callJSON(t, s, "editMessageText", map[string]any{"chat_id": 1, "message_id": 1, "text": "b"})
	fails(t, r, 429, "Too Many Requests: retry after 5")
	// The penalty holds the chat's edits and sends, not callback answers.
	fails(t, callJSON(t, s, "deleteMessage", map[string]any{"chat_id": 1, "message_id": 1}), 429, "Too Many Requests: retry after 5")
	ok(t, callJSON(t, s, "answerCallbackQuery", map[string]any{"callback_query_id": "q"}), nil)
	if st := s.Stats(); st.EarlyRetry != 1 || st.Faults[KindTooManyRequests] != 1 {
		t.Errorf("stats %+v", st)
	}
	checkConsistent(t, s.Stats())
}

func TestDeletePin(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, Config{})
	for range 4 {
		sendText(t, s, -5, "x")
	}
	type step struct {
		method string
		params map[string]any
		desc   string
	}
	steps := []step{
		{"pinChatMessage", map[string]any{"message_id": 2}, ""},
		{"pinChatMessage", map[string]any{"message_id": 3}, ""},
		{"pinChatMessage", map[string]any{"message_id": 9}, "Bad Request: message to pin not found"},
		{"pinChatMessage", map[string]any{}, "Bad Request: message identifier is not specified"},
		{"unpinChatMessage", map[string]any{}, ""}, // unpins 3, the latest
		{"unpinChatMessage", map[string]any{"message_id": 9}, "Bad Request: message to unpin not found"},
		{"deleteMessage", map[string]any{"message_id": 1}, ""},
		{"deleteMessage", map[string]any{"message_id": 1}, "Bad Request: message to delete not found"},
		{"deleteMessage", map[string]any{"message_id": 77}, "Bad Request: message to delete not found"},
		{"deleteMessages", map[string]any{"message_ids": []int{1, 4, 50}}, ""}, // 1 and 50 skipped
		{"deleteMessages", map[string]any{"message_ids": []int{1, 4}}, "Bad Request: message to delete not found"},
		{"pinChatMessage", map[string]any{"message_id": 4}, "Bad Request: message to pin not found"},
	}
	for i, st := range steps {
		st.params["chat_id"] = -5
		r := callJSON(t, s, st.method, st.params)
		if st.desc != "" {
			fails(t, r, 400, st.desc)
			continue
		}
		var res bool
		ok(t, r, &res)
		if !res {
			t.Errorf("step %d: result %s", i, r.Result)
		}
	}
	var flags []string
	for _, m := range s.ChatMessages(bot1, "-5") {
		flags = append(flags, strconv.FormatInt(m.MessageID, 10)+":"+strconv.FormatBool(m.Deleted)+"/"+strconv.FormatBool(m.Pinned))
	}
	if want := []string{"1:true/false", "2:false/true", "3:false/false", "4:true/false"}; !slices.Equal(flags, want) {
		t.Errorf("states = %v, want %v", flags, want)
	}
	var recs []string
	for _, r := range s.Messages()[4:] {
		recs = append(recs, r.Method+" "+strconv.FormatInt(r.MessageID, 10)+" "+jsonInts(r.MessageIDs))
	}
	want := []string{"pinChatMessage 2 []", "pinChatMessage 3 []", "unpinChatMessage 3 []", "deleteMessage 1 []", "deleteMessages 4 [4]"}
	if !slices.Equal(recs, want) {
		t.Errorf("records = %q, want %q", recs, want)
	}
	checkConsistent(t, s.Stats())
}

func jsonInts(ids []int64) string {
	if ids == nil {
		return "[]"
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

func TestInteraction(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, Config{})
	tests := []struct {
		method string
		params map[string]any
		desc   string
	}{
		{"sendChatAction", map[string]any{"chat_id": 1, "action": "typing"}, ""},
		{"sendChatAction", map[string]any{"chat_id": 1, "action": "dancing"}, "Bad Request: wrong parameter action in request"},
		{"sendChatAction", map[string]any{"chat_id": 1}, "Bad Request: action is empty"},
		{"sendChatAction", map[string]any{"action": "typing"}, "Bad Request: chat_id is empty"},
		{"answerCallbackQuery", map[string]any{"callback_query_id": "42", "text": "done"}, ""},
		{"answerCallbackQuery", map[string]any{}, "Bad Request: query is too old and response timeout expired or query ID is invalid"},
	}
	for _, tt := range tests {
		r := callJSON(t, s, tt.method, tt.params)
		if tt.desc != "" {
			fails(t, r, 400, tt.desc)
			continue
		}
		var res bool
		ok(t, r, &res)
		if !res {
			t.Errorf("%s: %s", tt.method, r.Result)
		}
	}
	recs := s.Messages()
	if len(recs) != 2 || recs[0].Action != "typing" || recs[0].ChatID != "1" || recs[1].CallbackQueryID != "42" ||
		recs[1].Text != "done" || recs[1].ChatID != "" {
		t.Errorf("records = %+v", recs)
	}
	if st := s.Stats(); st.Delivered != 0 || st.OtherOK != 2 || st.BadRequests != 4 {
		t.Errorf("stats = %+v", st)
	}
	checkConsistent(t, s.Stats())
}

// TestMethodLimits: albums count N, edits/deletes/pins/chat actions count
// against the chat and group but not the bot, callback answers never.
func TestMethodLimits(t *testing.T) {
	t.Parallel()
	album := func(chat, n int) map[string]any {
		items := make([]any, n)
		for i := range items {
			items[i] = map[string]any{"type": "photo", "media": "https://x/" + strconv.Itoa(i)}
		}
		return map[string]any{"chat_id": chat, "media": items}
	}
	type step struct {
		method string
		params map[string]any
		code   int // 0 = success
	}
	text := func(chat int) map[string]any { return map[string]any{"chat_id": chat, "text": "t"} }
	tests := []struct {
		name   string
		limits Limits
		steps  []step
		kind   LimitKind // of the last 429
	}{
		{"album counts its items against Global", Limits{Global: 5}, []step{
			{"sendMediaGroup", album(1, 4), 0}, {"sendMessage", text(2), 0}, {"sendMessage", text(3), 429},
		}, LimitGlobal},
		{"album of 10 fits an empty 1/s chat window, then holds it", Limits{Chat: 1}, []step{
			{"sendMediaGroup", album(1, 10), 0}, {"sendMessage", text(1), 429},
		}, LimitChat},
		{"album counts against Group", Limits{Group: 3}, []step{
			{"sendMediaGroup", album(-1, 3), 0}, {"sendChatAction", map[string]any{"chat_id": -1, "action": "typing"}, 429},
		}, LimitGroup},
		{"edits not against Global", Limits{Global: 1}, []step{
			{"sendMessage", text(1), 0},
			{"editMessageText", map[string]any{"chat_id": 1, "message_id": 1, "text": "e"}, 0},
			{"sendChatAction", map[string]any{"chat_id": 2, "action": "typing"}, 0},
			{"pinChatMessage", map[string]any{"chat_id": 1, "message_id": 1}, 0},
			{"deleteMessage", map[string]any{"chat_id": 1, "message_id": 1}, 0},
			{"sendMessage", text(3), 429},
		}, LimitGlobal},
		{"edits against Chat", Limits{Chat: 1}, []step{
			{"sendMessage", text(1), 0},
			{"editMessageText", map[string]any{"chat_id": 1, "message_id": 1, "text": "e"}, 429},
		}, LimitChat},
		{"callback answers never", Limits{Global: 1, Chat: 1, Group: 1}, []step{
			{"sendMessage", text(1), 0},
			{"answerCallbackQuery", map[string]any{"callback_query_id": "a"}, 0},
			{"answerCallbackQuery", map[string]any{"callback_query_id": "b"}, 0},
			{"answerCallbackQuery", map[string]any{"callback_query_id": "c"}, 0},
			{"sendMessage", text(2), 429},
		}, LimitGlobal},
		{"paid album against Paid", Limits{Global: 1, Paid: 3}, []step{
			{"sendMessage", text(1), 0},
			{"sendMediaGroup", withPaid(album(2, 3)), 0},
			{"sendPhoto", withPaid(map[string]any{"chat_id": 3, "photo": "https://x/p"}), 429},
		}, LimitPaid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSandbox(t, Config{Limits: tt.limits})
			useFakeClock(s)
			for i, st := range tt.steps {
				r := callJSON(t, s, st.method, st.params)
				if st.code == 0 {
					if !r.Ok {
						t.Fatalf("step %d %s: %d %s", i, st.method, r.ErrorCode, r.Description)
					}
					continue
				}
				if r.Ok || r.ErrorCode != st.code || r.Parameters == nil || r.Parameters.RetryAfter < 1 {
					t.Fatalf("step %d %s: want %d with retry_after, got %+v", i, st.method, st.code, r)
				}
			}
			st := s.Stats()
			if st.Violations != 1 || st.Rejected429[tt.kind] != 1 {
				t.Errorf("Violations %d, Rejected429 %v, want 1 %s", st.Violations, st.Rejected429, tt.kind)
			}
			checkConsistent(t, st)
		})
	}
}

func withPaid(p map[string]any) map[string]any {
	p["allow_paid_broadcast"] = true
	return p
}

// JSON-typed fields arrive as JSON strings in multipart and urlencoded
// bodies; telego's form encoding must give the same result as JSON.
func TestFormEncodings(t *testing.T) {
	t.Parallel()
	for _, urlencoded := range []bool{false, true} {
		s2 := newSandbox(t, Config{})
		fields := map[string]string{"chat_id": "9", "question": "Q", "options": `[{"text":"a"},{"text":"b"}]`,
			"reply_markup": `{"inline_keyboard":[[{"text":"x","callback_data":"y"}]]}`}
		var r apiResp
		if urlencoded {
			r = callURL(t, s2, "sendPoll", fields)
		} else {
			r = callForm(t, s2, "sendPoll", fields, nil)
		}
		m := message(t, r)
		if m.Poll == nil || len(m.Poll.Options) != 2 || m.ReplyMarkup == nil || m.ReplyMarkup.InlineKeyboard[0][0].Text != "x" {
			t.Errorf("urlencoded %v: %s", urlencoded, r.Result)
		}
		if p := s2.Messages()[0].Params; p["chat_id"] != "9" {
			t.Errorf("params = %v", p)
		}
	}
}

// Captions are at most 1024 UTF-16 code units after entities parsing.
func TestCaptionLength(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, Config{})
	tests := []struct {
		name, caption, parseMode string
		ok                       bool
	}{
		{"1024 ASCII", strings.Repeat("x", 1024), "", true},
		{"1025 ASCII", strings.Repeat("x", 1025), "", false},
		{"512 emoji (1024 UTF-16 units)", strings.Repeat("😀", 512), "", true},
		{"513 emoji", strings.Repeat("😀", 513), "", false},
		{"1024 Cyrillic (2048 bytes)", strings.Repeat("я", 1024), "", true},
		{"HTML tags do not count", "<b>" + strings.Repeat("x", 1024) + "</b>", "HTML", true},
		{"entities count as one char", strings.Repeat("&amp;", 1024), "HTML", true},
		{"bad parse mode", "x", "Bogus", false},
	}
	for _, tt := range tests {
		r := callJSON(t, s, "sendDocument", map[string]any{"chat_id": 1, "document": "https://x/d",
			"caption": tt.caption, "parse_mode": tt.parseMode})
		if r.Ok != tt.ok {
			t.Errorf("%s: ok = %v (%s), want %v", tt.name, r.Ok, r.Description, tt.ok)
		}
		if !tt.ok && r.ErrorCode != 400 {
			t.Errorf("%s: %d", tt.name, r.ErrorCode)
		}
	}
}

// Messages older than 48 hours cannot be deleted.
func TestDeleteAge(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, Config{})
	clock := useFakeClock(s)
	sendText(t, s, 1, "old")
	clock.Advance(47 * time.Hour)
	sendText(t, s, 1, "newer")
	clock.Advance(time.Hour + time.Second)
	fails(t, callJSON(t, s, "deleteMessage", map[string]any{"chat_id": 1, "message_id": 1}), 400,
		"Bad Request: message can't be deleted for everyone")
	ok(t, callJSON(t, s, "deleteMessages", map[string]any{"chat_id": 1, "message_ids": []int{1, 2}}), nil)
	if m1, _ := s.Message(bot1, "1", 1); m1.Deleted {
		t.Error("message 1 deleted after 48 h")
	}
	if m2, _ := s.Message(bot1, "1", 2); !m2.Deleted {
		t.Error("message 2 not deleted")
	}
}

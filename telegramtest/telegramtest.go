// Package telegramtest runs a fake Telegram Bot API server in process for
// an app's own tests, as net/http/httptest does for HTTP servers: point the
// bot (telequeue's worker, telego, any Bot API client) at [Server.URL] with
// [Token], then assert what it sent, chat by chat and in order, and inject
// the failures Telegram answers with (429 with retry_after, 403, 5xx).
//
//	srv := telegramtest.NewServer()
//	defer srv.Close()
//	// worker: handlers.BotsConfig{Tokens: map[string]string{"default": telegramtest.Token}, APIURL: srv.URL}
//	// telego: telego.NewBot(telegramtest.Token, telego.WithAPIServer(srv.URL))
//	msgs, err := srv.WaitMessages(1, 5*time.Second)
//
// The server answers the methods a bot uses to send and manage messages as
// Telegram does: sendMessage, sendPhoto and the other media sends (by
// upload, file_id or URL), sendMediaGroup, sendLocation, sendVenue,
// sendContact, sendPoll, sendDice, copyMessage(s), forwardMessage(s),
// editMessageText, editMessageCaption, editMessageMedia,
// editMessageReplyMarkup, deleteMessage(s), pinChatMessage,
// unpinChatMessage, sendChatAction, answerCallbackQuery and getMe. Message
// ids count from 1 per chat; an edit of a message that does not exist, or
// to identical content, gets Telegram's 400. Any other method gets
// Telegram's 404. It listens on a loopback port and accepts any token of
// Telegram's form.
//
// [Server.Messages] lists what the bot sent, [Server.Calls] every call that
// did something (sends, edits, deletions, pins, chat actions, callback
// answers), and [Server.MessageState] the current state of one message:
//
//	st, _ := srv.MessageState(42, 1)
//	if !st.Deleted { t.Error("the bot did not delete its prompt") }
package telegramtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/telequeue/telequeue/internal/sandbox"
)

// Token is a bot token in Telegram's form that the server accepts. Its bot
// id (the part before the colon) is [BotID].
const Token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX"

// BotID is the bot id of [Token], as [Message.BotID] reports it.
const BotID int64 = 123456789

// Server is a fake Bot API server. It is safe for concurrent use.
type Server struct {
	// URL is the server's base URL, such as "http://127.0.0.1:41234": the
	// Bot API server to give the bot.
	URL string

	sb *sandbox.Sandbox
}

// Option configures a [Server].
type Option struct{ apply func(*sandbox.Config) }

// WithTelegramLimits makes the server enforce Telegram's published flood
// limits (30 messages per second per bot, 1 per second per chat, 20 per
// minute per group chat, 1000 per second with allow_paid_broadcast),
// answering a send over them 429 with retry_after, as Telegram does. By
// default there are no limits.
func WithTelegramLimits() Option {
	return Option{func(c *sandbox.Config) { c.Limits = sandbox.TelegramLimits() }}
}

// WithLatency delays every answer by d, as a slow network would.
func WithLatency(d time.Duration) Option {
	return Option{func(c *sandbox.Config) { c.Latency = d }}
}

// NewServer starts a server on a free loopback port. It panics if it cannot
// listen, as httptest.NewServer does. Close it when done.
func NewServer(opts ...Option) *Server {
	var cfg sandbox.Config
	for _, o := range opts {
		if o.apply != nil {
			o.apply(&cfg)
		}
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		panic("telegramtest: " + err.Error())
	}
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		panic("telegramtest: " + err.Error())
	}
	return &Server{URL: url, sb: sb}
}

// Close stops the server at once and drops its connections.
func (s *Server) Close() { _ = s.sb.Close() }

// Message is a call the server recorded: a send (one per call; an album is
// one Message with its message ids in MessageIDs) or, in [Server.Calls], any
// other call that did something.
type Message struct {
	// Method is the Bot API method: "sendMessage", "sendPhoto",
	// "editMessageCaption", "deleteMessage", ….
	Method string
	// BotID is the sending bot's id, the part of its token before the
	// colon.
	BotID int64
	// Chat is the chat as the bot addressed it: a decimal id ("42",
	// "-1001234567890") or an "@username".
	Chat string
	// ChatID is Chat as a number; 0 for an @username.
	ChatID int64
	// MessageID is the message_id the server answered with (it counts from
	// 1 in each chat), or the message an edit, deletion or pin acted on.
	MessageID int64
	// MessageIDs are all the messages an album, copyMessages or
	// forwardMessages made, or deleteMessages deleted.
	MessageIDs []int64
	// Text is the text as sent, before entities are parsed (sendMessage,
	// editMessageText; answerCallbackQuery's notification).
	Text string
	// Caption is the caption as sent, before entities are parsed (media
	// sends, editMessageCaption, editMessageMedia; an album's first).
	Caption string
	// Files are the files sent, one per album item.
	Files []File
	// ParseMode is "HTML", "Markdown", "MarkdownV2" or "".
	ParseMode string
	// PaidBroadcast reports allow_paid_broadcast.
	PaidBroadcast bool
	// At is when the server delivered it.
	At time.Time
}

// File is a file a call sent.
type File struct {
	// Kind is "photo", "video", "animation", "audio", "document", "voice",
	// "video_note" or "sticker".
	Kind string
	// FileID is the file_id the server answered with: a new one for an
	// upload or a URL, which the bot may send again, or the one sent.
	FileID string
	// Uploaded reports a multipart upload; Size is its size in bytes and
	// Name its file name.
	Uploaded bool
	Size     int64
	Name     string
}

func toMessages(in []sandbox.Received, sendsOnly bool) []Message {
	out := make([]Message, 0, len(in))
	for _, r := range in {
		if sendsOnly && !sandbox.IsSend(r.Method) {
			continue
		}
		id, _ := strconv.ParseInt(r.ChatID, 10, 64)
		m := Message{Method: r.Method, BotID: r.BotID, Chat: r.ChatID, ChatID: id, MessageID: r.MessageID,
			MessageIDs: r.MessageIDs, Text: r.Text, Caption: r.Caption, ParseMode: r.ParseMode,
			PaidBroadcast: r.Paid, At: r.At}
		for _, f := range r.Media {
			m.Files = append(m.Files, File{Kind: f.Kind, FileID: f.FileID, Uploaded: f.Source == sandbox.SourceUpload,
				Size: f.Size, Name: f.Name})
		}
		out = append(out, m)
	}
	return out
}

// Messages returns every send so far (sendMessage, sendPhoto, …,
// copyMessage, forwardMessage), in order.
func (s *Server) Messages() []Message { return toMessages(s.sb.Messages(), true) }

// Calls returns every call that did something so far, in order: sends,
// edits, deletions, pins and unpins, chat actions and callback answers.
func (s *Server) Calls() []Message { return toMessages(s.sb.Messages(), false) }

// MessageState is the current state of a message the bot sent.
type MessageState struct {
	// Kind is "text", a file kind (see [File.Kind]) or "location",
	// "venue", "contact", "poll", "dice".
	Kind string
	// Text and Caption are as Telegram shows them, after entities are
	// parsed and every edit applied.
	Text    string
	Caption string
	// FileID is the media's file_id.
	FileID string
	// HasKeyboard reports an inline keyboard.
	HasKeyboard bool
	// Edits counts the successful edits.
	Edits   int
	Deleted bool
	Pinned  bool
}

// MessageState returns the current state of message messageID in chat
// chatID, sent with [Token], and false if there is no such message.
func (s *Server) MessageState(chatID, messageID int64) (MessageState, bool) {
	m, ok := s.sb.Message(BotID, strconv.FormatInt(chatID, 10), messageID)
	if !ok {
		return MessageState{}, false
	}
	return MessageState{Kind: m.Kind, Text: m.Text, Caption: m.Caption, FileID: m.FileID,
		HasKeyboard: len(m.ReplyMarkup) > 0, Edits: m.Edits, Deleted: m.Deleted, Pinned: m.Pinned}, true
}

// MessagesTo returns the messages delivered to chat chatID so far, in
// delivery order. For a channel addressed as "@name", filter
// [Server.Messages] by [Message.Chat].
func (s *Server) MessagesTo(chatID int64) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.ChatID == chatID && m.Chat != "" && m.Chat[0] != '@' {
			out = append(out, m)
		}
	}
	return out
}

// WaitMessages waits until at least n sends (see [Server.Messages]) have
// been delivered, and returns them all, in order. After timeout it returns
// those delivered so far and an error saying how many.
func (s *Server) WaitMessages(n int, timeout time.Duration) ([]Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := s.sb.WaitForSends(ctx, n)
	msgs := s.Messages()
	if err != nil {
		return msgs, fmt.Errorf("telegramtest: %d of %d messages after %v", len(msgs), n, timeout)
	}
	return msgs, nil
}

// WaitCalls waits until at least n calls (see [Server.Calls]) have been
// recorded, and returns them all, in order: the way to wait for a bot's
// edits and deletions. After timeout it returns those recorded so far and
// an error saying how many.
func (s *Server) WaitCalls(n int, timeout time.Duration) ([]Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := s.sb.WaitFor(ctx, n)
	calls := s.Calls()
	if err != nil {
		return calls, fmt.Errorf("telegramtest: %d of %d calls after %v", len(calls), n, timeout)
	}
	return calls, nil
}

// Fault is a failure the server answers a chat's calls with, instead of
// handling them.
type Fault struct {
	// Method restricts the fault to one Bot API method, such as
	// "sendPhoto" or "editMessageText"; "" means every method but getMe.
	Method string
	// Code is the answer: 429 (Too Many Requests, with RetryAfter), 403
	// ("Forbidden: bot was blocked by the user"), 500 or 502 (server
	// errors; 502 with an HTML body, as Telegram's proxy answers).
	Code int
	// RetryAfter is the retry_after of a 429, in whole seconds; 0 means 1.
	// The server also holds the chat for that long: a send that arrives
	// earlier is answered 429 again and counted in [Stats.EarlyRetries].
	RetryAfter int
	// Times is how many sends get the fault; 0 means every send until
	// [Server.ClearFaults].
	Times int
}

// ErrFaultCode is returned for a [Fault] whose Code is not one of 429, 403,
// 500 and 502.
var ErrFaultCode = errors.New("telegramtest: fault code must be 429, 403, 500 or 502")

// Fail makes the server answer the next calls for chat chatID (sends,
// edits, deletions, …; of [Fault.Method] only, if set) with f. Faults are
// checked in the order they were added; the first that applies wins.
func (s *Server) Fail(chatID int64, f Fault) error {
	kinds := map[int]sandbox.FaultKind{
		429: sandbox.KindTooManyRequests, 403: sandbox.KindBlocked,
		500: sandbox.KindServerError, 502: sandbox.KindBadGateway,
	}
	kind, ok := kinds[f.Code]
	if !ok {
		return fmt.Errorf("%w (got %d)", ErrFaultCode, f.Code)
	}
	if f.RetryAfter < 0 || f.Times < 0 {
		return errors.New("telegramtest: fault with negative RetryAfter or Times")
	}
	rule := sandbox.Rule{Method: f.Method, Kind: kind, Chat: strconv.FormatInt(chatID, 10),
		RetryAfter: f.RetryAfter, Times: f.Times}
	if err := rule.Validate(); err != nil {
		return fmt.Errorf("telegramtest: fault: %w", err)
	}
	s.sb.AddRule(rule)
	return nil
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() { s.sb.ClearRules() }

// Stats counts what the server answered.
type Stats struct {
	// Requests counts every Bot API request.
	Requests int
	// Delivered counts the sends delivered (an album is one).
	Delivered int
	// Uploads counts the files uploaded (multipart) by successful calls,
	// and UploadBytes their sizes.
	Uploads     int
	UploadBytes int64
	// TooManyRequests counts the 429 answers: injected, over a limit
	// ([WithTelegramLimits]) or early retries.
	TooManyRequests int
	// EarlyRetries counts the sends that came back before the retry_after
	// of an earlier 429 ran out: a bot that honours retry_after has none.
	EarlyRetries int
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	st := s.sb.Stats()
	return Stats{
		Requests:        st.Requests,
		Delivered:       st.Delivered,
		Uploads:         st.Uploads,
		UploadBytes:     st.UploadBytes,
		TooManyRequests: st.Violations + st.EarlyRetry + st.Faults[sandbox.KindTooManyRequests],
		EarlyRetries:    st.EarlyRetry,
	}
}

// Reset forgets every message, message state, file_id issued, count and
// 429 hold; faults stay.
func (s *Server) Reset() { s.sb.Reset() }

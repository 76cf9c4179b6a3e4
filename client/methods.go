package client

import (
	"context"

	"github.com/mymmrac/telego"
)

// The typed calls below are [Client.Call] for one method each, named after
// it: they take the method's telego parameters and the same options, and
// return what Call returns. Every other method of [tasks.Methods] is queued
// with Call itself.

// SendPhoto queues sendPhoto: a photo by file_id, URL or upload (tu.File),
// at most 10 MB.
func (c *Client) SendPhoto(ctx context.Context, p *telego.SendPhotoParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// SendVideo queues sendVideo.
func (c *Client) SendVideo(ctx context.Context, p *telego.SendVideoParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// SendAnimation queues sendAnimation (a GIF or a silent video).
func (c *Client) SendAnimation(ctx context.Context, p *telego.SendAnimationParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// SendAudio queues sendAudio.
func (c *Client) SendAudio(ctx context.Context, p *telego.SendAudioParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// SendDocument queues sendDocument: any file, at most 50 MB (or
// [Config.UploadMaxBytes]).
func (c *Client) SendDocument(ctx context.Context, p *telego.SendDocumentParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// SendVoice queues sendVoice.
func (c *Client) SendVoice(ctx context.Context, p *telego.SendVoiceParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// SendMediaGroup queues sendMediaGroup: an album of 2 to 10 photos and
// videos, or of documents, or of audio (tu.MediaGroup); one task that counts
// as one message per item against Telegram's limits.
func (c *Client) SendMediaGroup(ctx context.Context, p *telego.SendMediaGroupParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// CopyMessage queues copyMessage: a copy of a message without a link to
// the original.
func (c *Client) CopyMessage(ctx context.Context, p *telego.CopyMessageParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// ForwardMessage queues forwardMessage.
func (c *Client) ForwardMessage(ctx context.Context, p *telego.ForwardMessageParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// EditMessageText queues editMessageText. An edit that finds the message
// already showing the text succeeds with [tasks.CallResult.NotModified].
func (c *Client) EditMessageText(ctx context.Context, p *telego.EditMessageTextParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// EditMessageCaption queues editMessageCaption.
func (c *Client) EditMessageCaption(ctx context.Context, p *telego.EditMessageCaptionParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// EditMessageMedia queues editMessageMedia; its new media may be an upload.
func (c *Client) EditMessageMedia(ctx context.Context, p *telego.EditMessageMediaParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// EditMessageReplyMarkup queues editMessageReplyMarkup (an inline keyboard).
func (c *Client) EditMessageReplyMarkup(ctx context.Context, p *telego.EditMessageReplyMarkupParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// DeleteMessage queues deleteMessage. A message found already deleted is a
// success with [tasks.CallResult.AlreadyGone].
func (c *Client) DeleteMessage(ctx context.Context, p *telego.DeleteMessageParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// DeleteMessages queues deleteMessages: 1 to 100 ids of one chat.
func (c *Client) DeleteMessages(ctx context.Context, p *telego.DeleteMessagesParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// PinChatMessage queues pinChatMessage.
func (c *Client) PinChatMessage(ctx context.Context, p *telego.PinChatMessageParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// AnswerCallbackQuery queues answerCallbackQuery in the callbacks queue
// ([tasks.QueueCallbacks]), which workers serve first; it is dropped unsent
// once [tasks.CallbackDeadline] old, as the user's client has given up.
func (c *Client) AnswerCallbackQuery(ctx context.Context, p *telego.AnswerCallbackQueryParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

// SendChatAction queues sendChatAction ("typing…"); it is dropped unsent
// once [tasks.ChatActionDeadline] old.
func (c *Client) SendChatAction(ctx context.Context, p *telego.SendChatActionParams, opts ...Option) (*Receipt, error) {
	return c.Call(ctx, p, opts...)
}

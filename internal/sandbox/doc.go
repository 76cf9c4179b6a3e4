// Package sandbox is a local Telegram Bot API server for development, tests,
// fault tests and benchmarks. It speaks the Bot API wire format closely enough
// for telego (and any other client) to talk to it instead of
// api.telegram.org, records every message it "delivers", enforces
// Telegram-like flood limits and injects faults on demand.
//
// # Serving
//
// [New] builds a [Sandbox] from a [Config] whose zero value is usable. A
// Sandbox is an [http.Handler]; [Sandbox.Start] also serves it on a TCP
// address (use "127.0.0.1:0" and read [Sandbox.URL]). Routes:
//
//	POST|GET /bot<token>/<method>        Bot API (JSON, urlencoded or multipart bodies)
//	POST|GET /bot<token>/test/<method>   same, telego's WithTestServerPath layout
//	         /sandbox/...                admin API, see below
//
// Methods (see below) answer as Telegram does; any other method answers 404
// {"ok":false,"error_code":404,"description":"Not Found"}. The bot id is the
// token's numeric prefix; the full token is never stored, recorded or
// logged.
//
// # Methods
//
// Every method is one entry of a table (methods.go: name, limit lane,
// whether allow_paid_broadcast is accepted, whether it is an edit, and its
// parser) over one path: decode the body (JSON, urlencoded or multipart;
// JSON-typed fields such as media, reply_markup or caption_entities arrive
// as JSON strings in forms) → parse and validate (400 with Telegram's
// description) → rules → the call's check against the state (400) → 429
// penalties and limits → effect → record → answer.
//
//	sendMessage, sendPhoto, sendVideo, sendAnimation, sendAudio, sendDocument,
//	sendVoice, sendVideoNote, sendSticker, sendLocation, sendVenue,
//	sendContact, sendPoll, sendDice       one new Message in the chat
//	sendMediaGroup                        2–10 Messages sharing a media_group_id
//	copyMessage                           {"message_id":N}
//	copyMessages, forwardMessages         [{"message_id":N},…]
//	forwardMessage                        the new Message, with forward_origin
//	editMessageText, editMessageCaption,
//	editMessageMedia, editMessageReplyMarkup
//	                                      the edited Message; true for inline_message_id
//	deleteMessage, deleteMessages,
//	pinChatMessage, unpinChatMessage,
//	sendChatAction, answerCallbackQuery   true
//	getMe                                 the bot's User
//
// Each (bot, chat) holds its messages, with ids counting from 1: their
// current content (text or caption after entities parsing, file, inline
// keyboard), whether deleted or pinned, and how often edited.
// [Sandbox.Message] and [Sandbox.ChatMessages] return it as [MessageState].
// Copies and forwards need a live source message (else "message to copy
// not found" / "message to forward not found"); copyMessages,
// forwardMessages and deleteMessages skip the ids they cannot find and fail
// only if none is found. Edits fail with "message to edit not found" (also
// for deleted messages), "message is not modified: …" (same content and
// keyboard), "there is no text in the message to edit" / "there is no
// caption …" / "there is no media …"; deletes with "message to delete not
// found", or "message can't be deleted for everyone" for messages sent more
// than 48 hours before; pins with "message to pin not found"; unpinChatMessage without
// message_id unpins the latest pin. allow_paid_broadcast=true is refused on
// forwards, copyMessages, edits, deletes, pins and the other non-sends.
//
// # Files
//
// A media field takes a file_id the sandbox issued to the same bot, an
// http(s) URL (accepted without fetching; it gets a new file_id), or an
// upload: the multipart part named by the field itself or by
// "attach://<name>". Each upload gets a new file_id (counted in
// [Stats.Uploads] and [Stats.UploadBytes]) that later calls may send
// again; an unknown file_id answers 400 "wrong file identifier/HTTP URL
// specified". An uploaded photo over 10 MB, any other file over 50 MB, or a
// multipart body over 64 MB answers 413 "Request Entity Too Large". Replies
// describe files as Telegram does (photo: an array of PhotoSize, with the
// size of uploaded GIF, JPEG and PNG images; others: one object).
//
// # Records
//
// Every successful call except getMe is recorded as a [Received] (method,
// chat, message ids made or acted on, text, caption, files, copy sources,
// chat action, callback query id, all fields): [Sandbox.Messages],
// [Sandbox.Count] and [Sandbox.WaitFor] see them all, [Sandbox.WaitForSends]
// counts only sends ([IsSend]). [Stats.Methods] counts requests and
// successes per method.
//
// # Limits
//
// [Limits] reads each of Telegram's flood limits literally, as a
// sliding-window count: at most N deliveries in any window of length W. A
// rate r per period B (a second; a minute for [Limits.Group]) gives
// N = max(1, ⌊r⌋) and W = B·N/r, so whole rates are exact (30/s is 30 in any
// 1 s, 20/min is 20 in any 60 s, 1/s is 1 in any 1 s) and fractional ones
// keep their average (0.5/s is 1 in 2 s, 2.5/s is 2 in 800 ms). A send
// arriving at time t fits a limit if fewer than N of that limit's deliveries
// fall in (t-W, t]: it has fewer than N earlier ones, or the N-th most recent
// was at or before t-W. Otherwise it would fit W after that N-th most recent
// delivery. Only deliveries count, never refused requests.
//
// Scopes: Global per bot (sends without allow_paid_broadcast), Paid per bot
// (sends with it, instead of Global), Chat per (bot, chat), Group per (bot,
// group chat) on top of Chat, where a group chat is a negative id or an
// @username. Sends (sendMessage, send*, copy*, forward*) count against
// Global or Paid, Chat and Group; edits, deletes, pins and sendChatAction
// against Chat and Group only; answerCallbackQuery and inline edits against
// nothing. A call counts as many deliveries as the messages it makes (an
// album of N, copyMessages of N), capped at each limit's N so that it fits
// an empty window. A send must fit every limit that applies to it; a send that does
// not is a violation: it is answered 429 with retry_after = the whole seconds
// (at least 1) until it would fit them all, it is not delivered and it
// consumes nothing. Every violation is counted once in [Stats.Violations] and
// once in [Stats.Rejected429] under the limit that needed the longest wait
// (ties go to the first of Global, Paid, Chat, Group), so Violations always
// equals the sum of Rejected429.
//
// Each 429 (from a limit or from a [KindTooManyRequests] rule) is remembered
// with its scope and expiry. A later request that arrives before the expiry is
// answered 429 again with the remaining seconds and counted in
// [Stats.EarlyRetry], not as a violation. Scopes: a Global 429 covers the
// bot's non-paid sends, a Paid 429 its paid sends, a Chat or Group 429 and a
// rule's 429 cover every send of that bot to that chat.
//
// A client that never sends over a limit and honours every retry_after ends a
// run with Violations == 0 and EarlyRetry == 0.
//
// # Timing
//
// Limits are judged when the sandbox processes a request, after it has
// been read and parsed, in a single critical section, so decisions are in a
// total order with non-decreasing times. [Config.Latency], its jitter and a
// [KindLatency] rule's delay are applied afterwards, before the reply is
// written, so latency never creates or hides a violation and a delivered
// message is recorded before the client sees the reply.
//
// # Faults
//
// [Sandbox.AddRule] installs a [Rule]; rules are checked in order and the
// first match applies, to any method ([Rule.Method] "" is every method but
// getMe). See [FaultKind] for the kinds and the exact replies;
// [KindNotEditable] answers edits "message can't be edited".
//
// # Admin API
//
// The same server answers JSON under /sandbox/ so that tests in other
// processes can drive it; [Client] wraps it:
//
//	GET    /sandbox/messages[?chat=&bot=&since=]  []Received, every recorded call (since = Seq, exclusive)
//	GET    /sandbox/stats[?summary=1]             Stats (summary drops per-chat maps)
//	GET    /sandbox/wait?n=N[&sends=1][&timeout=30s]  {"count":c}; 200 once c >= n, 408 on timeout
//	GET    /sandbox/state?bot=B&chat=C[&id=N]     []MessageState of the chat, or one (404 if unknown)
//	GET    /sandbox/rules                         []RuleInfo
//	POST   /sandbox/rules                         body Rule → {"id":n}
//	DELETE /sandbox/rules                         remove all rules
//	DELETE /sandbox/rules/{id}                    remove one rule
//	POST   /sandbox/reset                         Reset (keeps rules and limits)
//	GET    /sandbox/limits                        Limits
//	PUT    /sandbox/limits                        body Limits
package sandbox

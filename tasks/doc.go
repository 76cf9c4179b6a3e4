// Package tasks defines telequeue's task types: their type names, typed and
// versioned JSON payloads, validation and constructors.
//
// A task type name is part of the wire format shared by every process of a
// deployment: it is never renamed. Payloads name a bot (see [SendMessage.Bot]),
// never a token; tokens live only in the environment of the processes that send.
//
// # Task types
//
//   - [TypeSendMessage]: one sendMessage call, payload [SendMessage].
//   - [TypeSendMessages]: a multi-part reply, payload [SendMessages].
//   - [TypeSendMessageOrdered], [TypeSendMessagesOrdered]: the same payloads,
//     delivered in their chat's order.
//   - [TypeBroadcastChunk]: one chunk of a broadcast, payload [BroadcastChunk].
//
// Each has a constructor (such as [NewSendMessageTask]) that validates the
// payload and sets the type's default options (queue, MaxRetry, Timeout),
// which options passed to it override.
//
// # Decoding and validation
//
// Every payload decoder ([ParseSendMessage], [DecodeSendMessage],
// [ParseSendMessages], [ParseBroadcastChunk], [ParseBroadcastMessage],
// [ReadOrderKey]) is strict: the payload must be valid UTF-8 and one JSON
// object with nothing after it but whitespace, and unknown fields are
// errors, so that a typo or a payload from a newer version is never
// half-sent.
//
// [SendMessage.Validate] checks a message the way the Bot API would before it
// is queued: text length (1–4096 characters after entity parsing), chat id,
// parse mode, entities, reply parameters and reply markup. Errors are
// [*ValidationError] values that name the field (such as
// "reply_parameters.message_id", or "parts[2].text" in a multi-part reply)
// and wrap a sentinel such as [ErrTextTooLong], so callers can use errors.Is
// and errors.As.
//
// # Queues
//
// Three queues exist: [QueueCritical], [QueueDefault] and [QueueBulk]. Servers
// weight them (6:3:1 by default); messages and replies go to [QueueDefault]
// and broadcast chunks to [QueueBulk] unless told otherwise.
package tasks

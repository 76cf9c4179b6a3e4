// Package tasks defines telequeue's task types: their type names, typed and
// versioned JSON payloads, validation and constructors.
//
// A task type name is part of the wire format shared by every process of a
// deployment: it is never renamed. Payloads name a bot (see [SendMessage.Bot]),
// never a token; tokens live only in the environment of the processes that send.
//
// # Validation
//
// [SendMessage.Validate] checks a message the way the Bot API would before it
// is queued: text length (1–4096 characters after entity parsing), chat id,
// parse mode, entities and reply markup. Errors are [*ValidationError] values
// that name the field and wrap a sentinel such as [ErrTextTooLong], so callers
// can use errors.Is and errors.As.
//
// # Queues
//
// Three queues exist: [QueueCritical], [QueueDefault] and [QueueBulk]. Servers
// weight them (6:3:1 by default); [NewSendMessageTask] puts a message on
// [QueueDefault] unless told otherwise.
package tasks

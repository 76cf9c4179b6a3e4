package tasks

import (
	"encoding/json"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/mymmrac/telego"
)

// TypeBroadcastChunk is the task type that sends one chunk of a broadcast's
// recipients. Never rename it: queued tasks of every running process carry
// it.
const TypeBroadcastChunk = "telegram:broadcast_chunk"

// BroadcastChunkVersion is the payload version this build writes and the
// newest it reads.
const BroadcastChunkVersion = 1

// Limits of a broadcast.
const (
	// MaxBroadcastRecipients is the largest number of distinct chats one
	// broadcast may address. Larger audiences are split into several
	// broadcasts.
	MaxBroadcastRecipients = 1_000_000
	// MaxBroadcastChunk is the largest number of recipients one chunk task
	// sends to.
	MaxBroadcastChunk = 10_000
	// MaxBroadcastParallelism is the most chunk tasks of one broadcast that
	// run at the same time.
	MaxBroadcastParallelism = 64
)

// BroadcastChunk is the payload of a [TypeBroadcastChunk] task. The message
// and the recipients are stored once per broadcast in Redis; the task only
// names the broadcast and the chunk.
type BroadcastChunk struct {
	// Version of the payload format; 0 is read as 1. Set by the constructor.
	Version int `json:"v,omitempty"`
	// Broadcast is the broadcast's id.
	Broadcast string `json:"broadcast"`
	// Chunk is the index of the chunk, from 0.
	Chunk int `json:"chunk"`
}

// ValidBroadcastID reports whether id can name a broadcast: 1 to 64
// letters, digits, '_' or '-', the ids telequeue generates (lowercase
// base32) and room for callers' own.
func ValidBroadcastID(id string) bool { return validName(id) }

// Validate checks the payload. It returns a [*ValidationError].
func (p *BroadcastChunk) Validate() error {
	switch {
	case p.Version < 0 || p.Version > BroadcastChunkVersion:
		return invalid("v", ErrUnsupportedVersion, "version %d, this build reads up to %d", p.Version, BroadcastChunkVersion)
	case !ValidBroadcastID(p.Broadcast):
		return invalid("broadcast", ErrInvalidField, "%q: use 1-64 letters, digits, '_' or '-'", p.Broadcast)
	case p.Chunk < 0 || p.Chunk >= MaxBroadcastRecipients:
		return invalid("chunk", ErrInvalidField, "%d is out of range", p.Chunk)
	}
	return nil
}

// ParseBroadcastChunk decodes a chunk payload strictly (valid UTF-8, one
// JSON object and nothing after it, unknown fields are errors) and validates
// it.
func ParseBroadcastChunk(data []byte) (*BroadcastChunk, error) {
	var p BroadcastChunk
	if err := decodeStrict(data, &p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// BroadcastChunkTaskID is the asynq task id of a broadcast's chunk: fixed, so
// that enqueueing the same chunk twice is refused while the first task is
// stored.
func BroadcastChunkTaskID(broadcast string, chunk int) string {
	return fmt.Sprintf("broadcast-%s-%d", broadcast, chunk)
}

// NewBroadcastChunkTask validates p and returns a task with the type's
// default options (queue "bulk", task id [BroadcastChunkTaskID], MaxRetry 25,
// Timeout 15m); opts override them.
func NewBroadcastChunkTask(p *BroadcastChunk, opts ...asynq.Option) (*asynq.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c := *p
	c.Version = BroadcastChunkVersion
	defaults := append(DefaultOptions(TypeBroadcastChunk, 0), asynq.TaskID(BroadcastChunkTaskID(c.Broadcast, c.Chunk)))
	return newTask(TypeBroadcastChunk, &c, defaults, opts)
}

// ValidateBroadcastMessage checks the message of a broadcast: every field as
// [SendMessage.Validate] does, except that the chat is left empty (each
// recipient's id takes its place).
func ValidateBroadcastMessage(m *SendMessage) error {
	if m.ChatID.ID != 0 || m.ChatID.Username != "" {
		return invalid("chat_id", ErrInvalidChat, "a broadcast takes its chats from chat_ids; leave chat_id out")
	}
	c := *m
	c.ChatID = telego.ChatID{ID: 1}
	return c.Validate()
}

// ValidateBroadcastChat checks one recipient id of a broadcast: a non-zero
// integer chat id (users are positive, groups negative) within the Bot API's
// range. Channels are addressed by id too.
func ValidateBroadcastChat(id int64) error {
	if id == 0 {
		return &ValidationError{Field: "chat_ids", Err: ErrMissingChat, Detail: "0 is not a chat id"}
	}
	if err := validateChat("chat_ids", telego.ChatID{ID: id}); err != nil {
		return invalid("chat_ids", ErrInvalidChat, "%d is out of range", id)
	}
	return nil
}

// ParseBroadcastMessage decodes a broadcast's message strictly (unknown
// fields are an error) and validates it with [ValidateBroadcastMessage].
func ParseBroadcastMessage(data []byte) (*SendMessage, error) {
	m, err := DecodeSendMessage(data)
	if err != nil {
		return nil, err
	}
	if err := ValidateBroadcastMessage(m); err != nil {
		return nil, err
	}
	return m, nil
}

// ValidateBroadcastCall checks the call a broadcast sends to each recipient
// in place of a message: a send-type method of [Methods] (a photo, a
// document, a copyMessage of a channel post, ...) whose parameters leave
// chat_id out (each recipient's id takes its place) and are otherwise valid.
func ValidateBroadcastCall(c *Call) error {
	m := method(c.Method)
	if m == nil {
		return invalid("method", ErrUnknownMethod, "%q: see tasks.Methods", c.Method)
	}
	if m.Kind != KindSend || !m.ChatAddressed() {
		return invalid("method", ErrUnknownMethod, "a broadcast sends messages; %s does not", m.Name)
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(c.Params, &params); err != nil || params == nil {
		return invalid("params", ErrMalformedPayload, "want a JSON object")
	}
	if _, ok := params["chat_id"]; ok {
		return invalid("chat_id", ErrInvalidChat, "a broadcast takes its chats from chat_ids; leave chat_id out")
	}
	params["chat_id"] = json.RawMessage("1")
	withChat, err := json.Marshal(params)
	if err != nil {
		return invalid("params", ErrMalformedPayload, "%v", err)
	}
	probe := *c
	probe.Params = withChat
	if err := probe.Validate(); err != nil {
		return err
	}
	c.m, c.cost = probe.m, probe.cost // the method and cost hold for every recipient
	return nil
}

// ParseBroadcastCall decodes a broadcast's stored call strictly and
// validates it with [ValidateBroadcastCall].
func ParseBroadcastCall(data []byte) (*Call, error) {
	var c Call
	if err := decodeStrict(data, &c); err != nil {
		return nil, err
	}
	if err := ValidateBroadcastCall(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// IsBroadcastCall reports whether a broadcast's stored body is a [Call]
// (it names a method) rather than a [SendMessage].
func IsBroadcastCall(data []byte) bool {
	var p struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(data, &p) == nil && p.Method != ""
}

// RecipientCall returns the call to one recipient of a broadcast call:
// c's parameters with chat_id set.
func (c *Call) RecipientCall(chat telego.ChatID) (*Call, error) {
	var params map[string]json.RawMessage
	if err := json.Unmarshal(c.Params, &params); err != nil {
		return nil, err
	}
	if params == nil {
		params = map[string]json.RawMessage{}
	}
	b, err := json.Marshal(chat)
	if err != nil {
		return nil, err
	}
	params["chat_id"] = b
	out := *c
	if out.Params, err = json.Marshal(params); err != nil {
		return nil, err
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return &out, nil
}

package handlers

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/hibiken/asynq"

	"github.com/telequeue/telequeue/tasks"
)

// newestVersion is the newest payload version this build reads for a task
// type, and false for a type without versioned payloads.
func newestVersion(taskType string) (int, bool) {
	switch taskType {
	case tasks.TypeSendMessage, tasks.TypeSendMessageOrdered:
		return tasks.SendMessageVersion, true
	case tasks.TypeSendMessages, tasks.TypeSendMessagesOrdered:
		return tasks.SendMessagesVersion, true
	case tasks.TypeBroadcastChunk:
		return tasks.BroadcastChunkVersion, true
	}
	if _, ok := tasks.MethodNameOf(taskType); ok {
		return tasks.CallVersion, true
	}
	return 0, false
}

// decodeTask decodes and validates t's payload with parse, one of the tasks
// package's decoders, sorting what is wrong as [decode] does.
func decodeTask[T any](t *asynq.Task, parse func([]byte) (T, error)) (T, error) {
	newest, versioned := newestVersion(t.Type())
	if !versioned {
		newest = -1
	}
	return decode(t.Payload(), newest, parse)
}

// decode decodes and validates payload with parse and sorts what is wrong
// with it, the same way for every task type: a payload from a version newer
// than newest (-1: no version rule) is retried, so that during a rolling
// deploy an upgraded worker can send it; anything else is archived at once
// (wrapped with asynq.SkipRetry).
func decode[T any](payload []byte, newest int, parse func([]byte) (T, error)) (T, error) {
	var zero T
	if !utf8.Valid(payload) {
		// encoding/json would turn the bad bytes into U+FFFD and the
		// message would go out mangled.
		return zero, fmt.Errorf("%w: not valid UTF-8: %w", ErrInvalidPayload, asynq.SkipRetry)
	}
	v, err := parse(payload)
	if err == nil {
		return v, nil
	}
	// A payload from a newer version may have fields this build does not
	// know; it is not invalid, only too new for this worker.
	var head struct {
		V int `json:"v"`
	}
	if newest >= 0 && json.Unmarshal(payload, &head) == nil && head.V > newest {
		return zero, fmt.Errorf("%w: version %d, this worker reads up to %d", ErrNewerPayload, head.V, newest)
	}
	return zero, fmt.Errorf("%w: %w: %w", ErrInvalidPayload, err, asynq.SkipRetry)
}

// senderOf returns the sender of bot, or an error wrapping [ErrUnknownBot]
// (not wrapped with asynq.SkipRetry) if this worker has no token for it.
func senderOf(bots map[string]Sender, bot string) (Sender, error) {
	s, ok := bots[bot]
	if !ok {
		return nil, fmt.Errorf("%w %q: no token configured on this worker", ErrUnknownBot, bot)
	}
	return s, nil
}

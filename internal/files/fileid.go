package files

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
	"github.com/telequeue/telequeue/tasks"
)

var errBot = errors.New("files: invalid bot name")

// FileID returns the file_id Telegram gave bot for u's content, or "" if
// there is none. A file_id belongs to the bot that uploaded the file: it is
// never returned for another bot.
func (s *Store) FileID(ctx context.Context, bot string, u tasks.Upload) (string, error) {
	ids, err := s.Resolve(ctx, bot, map[string]tasks.Upload{"": u})
	return ids[""], err
}

// Resolve returns, in one round trip (one per Redis Cluster node), the
// file_ids bot has for the uploads of a task, keyed like ups (by field,
// e.g. "photo" or "media.2"). Uploads without a file_id are not in the
// result: the task uploads those.
func (s *Store) Resolve(ctx context.Context, bot string, ups map[string]tasks.Upload) (map[string]string, error) {
	if !tasks.ValidBotName(bot) {
		return nil, errBot
	}
	for _, u := range ups {
		if err := checkRef(u); err != nil {
			return nil, err
		}
	}
	cmds := make(map[string]*redis.StringCmd, len(ups))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for f, u := range ups {
			cmds[f] = p.Get(ctx, keys.UploadOf(u.SHA256).FileID(bot))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("files: file ids: %w", err)
	}
	ids := make(map[string]string, len(ups))
	for f, c := range cmds {
		id, err := c.Result()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return nil, fmt.Errorf("files: file id of %s: %w", ups[f], err)
		default:
			ids[f] = id
		}
	}
	return ids, nil
}

// SetFileID stores the file_id Telegram answered when bot uploaded u, for
// Config.FileIDTTL; a later send of the same content by the same bot sends
// it instead of the bytes. Setting it again (after a send by file_id
// worked) starts its TTL again.
func (s *Store) SetFileID(ctx context.Context, bot string, u tasks.Upload, fileID string) error {
	return s.SetFileIDs(ctx, bot, map[string]tasks.Upload{"": u}, map[string]string{"": fileID})
}

// SetFileIDs is SetFileID for several uploads in one round trip: it stores
// fileIDs[f] for ups[f] (fields of fileIDs not in ups are an error).
func (s *Store) SetFileIDs(ctx context.Context, bot string, ups map[string]tasks.Upload, fileIDs map[string]string) error {
	if !tasks.ValidBotName(bot) {
		return errBot
	}
	for f, id := range fileIDs {
		u, ok := ups[f]
		if !ok {
			return fmt.Errorf("files: file id for field %q without an upload", f)
		}
		if err := checkRef(u); err != nil {
			return err
		}
		if id == "" {
			return fmt.Errorf("files: empty file id for %s", u)
		}
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for f, id := range fileIDs {
			p.Set(ctx, keys.UploadOf(ups[f].SHA256).FileID(bot), id, s.cfg.FileIDTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("files: set file ids: %w", err)
	}
	return nil
}

// ForgetFileID deletes bot's file_id for u, e.g. after Telegram refused it
// ("wrong file identifier"): the next send uploads the bytes again.
func (s *Store) ForgetFileID(ctx context.Context, bot string, u tasks.Upload) error {
	if !tasks.ValidBotName(bot) {
		return errBot
	}
	if err := checkRef(u); err != nil {
		return err
	}
	if err := s.rdb.Del(ctx, keys.UploadOf(u.SHA256).FileID(bot)).Err(); err != nil {
		return fmt.Errorf("files: forget file id of %s: %w", u, err)
	}
	return nil
}

// ClaimUpload claims, for ttl, the upload of u's content by bot, unless
// another sender holds the claim: ok reports whether this call got it. The
// holder uploads the file and stores the file_id Telegram answers
// ([Store.SetFileID]) before calling release; the others wait for that
// file_id instead of uploading the same bytes too (see handlers'
// CallHandler). release deletes the claim only if it is still this call's
// (it may have expired and been taken by another); a claim that is never
// released expires after ttl.
func (s *Store) ClaimUpload(ctx context.Context, bot string, u tasks.Upload, ttl time.Duration) (release func(), ok bool, err error) {
	if !tasks.ValidBotName(bot) {
		return nil, false, errBot
	}
	if err := checkRef(u); err != nil {
		return nil, false, err
	}
	if ttl < time.Millisecond {
		return nil, false, fmt.Errorf("files: claim ttl %v: want at least 1ms", ttl)
	}
	key := keys.UploadOf(u.SHA256).Claim(bot)
	token := rand.Text()
	ok, err = s.rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return nil, false, fmt.Errorf("files: claim %s: %w", u, err)
	}
	if !ok {
		return func() {}, false, nil
	}
	return func() {
		// A failed release only makes the others wait until the claim
		// expires or they stop waiting.
		_ = unclaimScript.Run(context.WithoutCancel(ctx), s.rdb, []string{key}, token).Err()
	}, true, nil
}

// unclaimScript deletes the claim KEYS[1] if it still holds ARGV[1].
var unclaimScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

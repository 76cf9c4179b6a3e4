package broadcast

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telequeue/telequeue/internal/keys"
)

// IndexKey is a sorted set of broadcast ids scored by their creation time
// (Unix ms), so that monitoring can find the recent broadcasts without
// scanning Redis. Ids whose broadcast expired are removed by [Store.Recent].
const IndexKey = keys.BroadcastIndex

// Recent returns the broadcasts created since since, newest first, at most
// limit of them. It drops from the index the ids created before since and
// those whose broadcast has expired.
func (s *Store) Recent(ctx context.Context, since time.Time, limit int) ([]*Info, error) {
	if err := s.rdb.ZRemRangeByScore(ctx, IndexKey, "-inf", "("+strconv.FormatInt(since.UnixMilli(), 10)).Err(); err != nil {
		return nil, fmt.Errorf("broadcast: recent: %w", err)
	}
	ids, err := s.rdb.ZRevRangeByScore(ctx, IndexKey, &redis.ZRangeBy{
		Min: strconv.FormatInt(since.UnixMilli(), 10), Max: "+inf", Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("broadcast: recent: %w", err)
	}
	infos := make([]*Info, 0, len(ids))
	var gone []any
	for _, id := range ids {
		info, err := s.Info(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			gone = append(gone, id)
		case err != nil:
			return nil, fmt.Errorf("broadcast: recent: %w", err)
		default:
			infos = append(infos, info)
		}
	}
	if len(gone) > 0 {
		if err := s.rdb.ZRem(ctx, IndexKey, gone...).Err(); err != nil {
			return nil, fmt.Errorf("broadcast: recent: %w", err)
		}
	}
	return infos, nil
}

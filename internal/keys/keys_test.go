package keys

import "testing"

// TestKeysDoNotChange pins every key string: running deployments hold them,
// so a change here is a migration, not a refactoring.
func TestKeysDoNotChange(t *testing.T) {
	t.Parallel()
	seq, meta := Order("main", "-100123")
	rl := RateLimitOf(RateLimitPrefix, "main")
	bc := BroadcastOf("b1")
	up := UploadOf("ab12")
	tests := []struct{ got, want string }{
		{Sent("t1"), "telequeue:sent:t1"},
		{Idempotency("k1"), "telequeue:idem:k1"},
		{Parts("t1"), "telequeue:parts:t1"},
		{AsynqTask("critical", "t1"), "asynq:{critical}:t:t1"},
		{seq, "telequeue:ord:{main:-100123}:q"},
		{meta, "telequeue:ord:{main:-100123}:m"},
		{RateLimitPrefix, "telequeue:rl:"},
		{rl.Budget("global"), "telequeue:rl:{main}:global"},
		{rl.Budget("paid"), "telequeue:rl:{main}:paid"},
		{rl.Chat("42"), "telequeue:rl:{main}:chat:42"},
		{rl.Group("-100123"), "telequeue:rl:{main}:group:-100123"},
		{rl.Pause(), "telequeue:rl:{main}:pause"},
		{rl.ChatPause("@news"), "telequeue:rl:{main}:pause:chat:@news"},
		{rl.Recent429(), "telequeue:rl:{main}:429"},
		{RateLimitOf("app:rl:", "main").Pause(), "app:rl:{main}:pause"},
		{BroadcastPrefix, "telequeue:bc:"},
		{bc.Meta(), "telequeue:bc:{b1}:meta"},
		{bc.Progress(), "telequeue:bc:{b1}:progress"},
		{bc.Blocked(), "telequeue:bc:{b1}:blocked"},
		{bc.List(3, 0), "telequeue:bc:{b1}:r:3"},
		{bc.List(3, 2), "telequeue:bc:{b1}:r:3:2"},
		{BroadcastIndex, "telequeue:broadcasts"},
		{Bots, "telequeue:bots"},
		{Events, "telequeue:events"},
		{RecoveryProcs, "telequeue:{recovery}:procs"},
		{RecoveryLock, "telequeue:{recovery}:lock"},
		{RecoveryInflight("h:1:ab"), "telequeue:{recovery}:inflight:h:1:ab"},
		{Fence("default", "t1"), "telequeue:fence:{default}:t1"},
		{UploadPrefix, "telequeue:upload:"},
		{up.Data(), "telequeue:upload:{ab12}"},
		{up.Holders(), "telequeue:upload:{ab12}:holders"},
		{up.FileID("promo"), "telequeue:fileid:{ab12}:promo"},
		{up.Claim("promo"), "telequeue:uploading:{ab12}:promo"},
		{Coalesce("b:1:5:editMessageText"), "telequeue:coalesce:b:1:5:editMessageText"},
		{RefWaiters("t1"), "telequeue:refwaiters:t1"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("key %q, want %q", tt.got, tt.want)
		}
	}
}

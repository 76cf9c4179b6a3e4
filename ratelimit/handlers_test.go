package ratelimit_test

import (
	"github.com/telequeue/telequeue/handlers"
	"github.com/telequeue/telequeue/ratelimit"
)

var _ handlers.Limiter = (*ratelimit.Limiter)(nil)

package sandbox

import "time"

// Stats summarises what the sandbox saw since New or the last Reset.
//
// Every Bot API request is counted in Requests and in exactly one of
// Delivered, OtherOK, Violations, EarlyRetry, Faults (for rules that do not
// deliver), BadRequests, Unauthorized or NotFound. Requests hit by a delivering rule
// ([KindLatency], [KindDropAfterDeliver]) count in Faults and, if delivered,
// also in Delivered. 429 answers = Violations + EarlyRetry +
// Faults[KindTooManyRequests].
//
// Gaps are -1 when no chat got two messages.
type Stats struct {
	Requests int `json:"requests"`
	// Delivered counts the successful sends (sendMessage, send*, copy*,
	// forward*): an album is one.
	Delivered int `json:"delivered"`
	// OtherOK counts the other successful calls: getMe, edits, deletes,
	// pins, chat actions, callback answers.
	OtherOK int `json:"other_ok"`
	// Rejected429 counts the 429s given for limits, by the limit that needed
	// the longest wait. Its sum equals Violations.
	Rejected429 map[LimitKind]int `json:"rejected_429"`
	// Violations counts sends that would have exceeded a limit had they been
	// delivered; each was answered 429 and not delivered. See the package
	// documentation for the exact rule.
	Violations int `json:"violations"`
	// EarlyRetry counts requests that arrived while an earlier 429 for the
	// same scope had not run out; each was answered 429 again.
	EarlyRetry int `json:"early_retry"`
	// Faults counts the requests each rule kind was applied to.
	Faults       map[FaultKind]int `json:"faults"`
	BadRequests  int               `json:"bad_requests"` // 400/413 from parameter checks
	Unauthorized int               `json:"unauthorized"` // tokens outside Config.Tokens
	NotFound     int               `json:"not_found"`    // unknown methods and paths
	// MaxPerSecond is the most non-paid messages one bot delivered in any
	// window (t-1s, t]; MaxPaidPerSecond the same for paid ones. The
	// sandbox never delivers more than a limit's N in its window W, so
	// while the limits stay the same and are whole numbers (W = 1 s),
	// MaxPerSecond <= Global and MaxPaidPerSecond <= Paid. A fractional
	// rate allows N per W instead: 2.5/s is 2 per 800 ms, up to 4 in one
	// second.
	MaxPerSecond     int `json:"max_per_second"`
	MaxPaidPerSecond int `json:"max_paid_per_second"`
	// MinChatGap is the smallest time between two deliveries by one bot to
	// one chat; MinGroupGap the same over group chats only.
	MinChatGap  time.Duration `json:"min_chat_gap_ns"`
	MinGroupGap time.Duration `json:"min_group_gap_ns"`
	// Uploads counts the files received as multipart uploads by successful
	// calls, and UploadBytes their sizes.
	Uploads     int   `json:"uploads"`
	UploadBytes int64 `json:"upload_bytes"`
	// Methods has the figures per Bot API method (getMe excluded), keyed by
	// its Bot API spelling ("sendPhoto").
	Methods map[string]MethodStats `json:"methods,omitempty"`
	// Bots has the figures per bot id.
	Bots map[int64]BotStats `json:"bots"`
}

// MethodStats are one method's figures.
type MethodStats struct {
	// Requests counts the calls that reached the method (a valid token);
	// OK those answered with success.
	Requests int `json:"requests"`
	OK       int `json:"ok"`
}

// BotStats are one bot's figures; see [Stats].
type BotStats struct {
	Delivered        int           `json:"delivered"`
	Paid             int           `json:"paid"`
	MaxPerSecond     int           `json:"max_per_second"`
	MaxPaidPerSecond int           `json:"max_paid_per_second"`
	MinChatGap       time.Duration `json:"min_chat_gap_ns"`
	MinGroupGap      time.Duration `json:"min_group_gap_ns"`
	// Chats has the figures per chat id (as first sent), for chats that got
	// at least one message. The admin API leaves it out with ?summary=1.
	Chats map[string]ChatStats `json:"chats,omitempty"`
}

// ChatStats are one (bot, chat)'s figures.
type ChatStats struct {
	Delivered int `json:"delivered"`
	// MinGap is the smallest time between two deliveries; -1 until there
	// were two.
	MinGap time.Duration `json:"min_gap_ns"`
	// Group reports that the chat counts for [Limits.Group].
	Group bool `json:"group,omitempty"`
}

// Stats returns the figures so far.
func (s *Sandbox) Stats() Stats { return s.stats(true) }

func minGap(cur, gap time.Duration) time.Duration {
	if gap < 0 {
		return cur
	}
	if cur < 0 || gap < cur {
		return gap
	}
	return cur
}

func (s *Sandbox) stats(perChat bool) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Requests:     s.st.requests,
		Delivered:    s.st.delivered,
		OtherOK:      s.st.otherOK,
		Rejected429:  make(map[LimitKind]int, len(s.st.rejected)),
		Violations:   s.st.violations,
		EarlyRetry:   s.st.earlyRetry,
		Faults:       make(map[FaultKind]int, len(s.st.faults)),
		BadRequests:  s.st.badRequests,
		Unauthorized: s.st.unauthorized,
		NotFound:     s.st.notFound,
		Uploads:      s.st.uploads,
		UploadBytes:  s.st.uploadBytes,
		Methods:      make(map[string]MethodStats, len(s.st.methods)),
		MinChatGap:   -1,
		MinGroupGap:  -1,
		Bots:         make(map[int64]BotStats, len(s.bots)),
	}
	for k, v := range s.st.rejected {
		st.Rejected429[k] = v
	}
	for k, v := range s.st.methods {
		st.Methods[k] = *v
	}
	for k, v := range s.st.faults {
		st.Faults[k] = v
	}
	for id, b := range s.bots {
		st.Bots[id] = BotStats{
			Delivered:        b.delivered,
			Paid:             b.paid,
			MaxPerSecond:     b.maxPerSec,
			MaxPaidPerSecond: b.maxPaidSec,
			MinChatGap:       -1,
			MinGroupGap:      -1,
		}
		st.MaxPerSecond = max(st.MaxPerSecond, b.maxPerSec)
		st.MaxPaidPerSecond = max(st.MaxPaidPerSecond, b.maxPaidSec)
	}
	for k, c := range s.chats {
		if c.delivered == 0 {
			continue
		}
		b := st.Bots[k.bot]
		b.MinChatGap = minGap(b.MinChatGap, c.minGap)
		st.MinChatGap = minGap(st.MinChatGap, c.minGap)
		if c.group {
			b.MinGroupGap = minGap(b.MinGroupGap, c.minGap)
			st.MinGroupGap = minGap(st.MinGroupGap, c.minGap)
		}
		if perChat {
			if b.Chats == nil {
				b.Chats = make(map[string]ChatStats)
			}
			b.Chats[c.id] = ChatStats{Delivered: c.delivered, MinGap: c.minGap, Group: c.group}
		}
		st.Bots[k.bot] = b
	}
	return st
}

package sandbox

import (
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/mymmrac/telego"
)

// supergroupBase is the offset of supergroup and channel ids: -100 followed
// by ten digits.
const supergroupBase = -1_000_000_000_000

// chatRef is a request's chat_id.
type chatRef struct {
	id  string // as recorded: canonical integer, or "@name" as sent
	key string // state and rule key: id, with usernames lower-cased
	num int64  // the id; 0 for usernames
}

// parseChatID parses a chat_id given as text. ok is false if s is neither an
// integer nor an @username.
func parseChatID(s string) (num int64, key string, ok bool) {
	if strings.HasPrefix(s, "@") {
		if len(s) < 2 {
			return 0, "", false
		}
		return 0, strings.ToLower(s), true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, "", false
	}
	if c := strconv.FormatInt(n, 10); c != s {
		s = c
	}
	return n, s, true
}

// group reports whether the chat counts as a group for [Limits.Group].
func (c *chatRef) group() bool { return c.num <= 0 }

// basicGroup reports whether the chat is a basic group, the only kind that
// can migrate.
func (c *chatRef) basicGroup() bool { return c.num < 0 && c.num > supergroupBase }

// telegoChat describes the chat as Telegram would in a Message.
func (c *chatRef) telegoChat() telego.Chat {
	switch {
	case c.num == 0:
		name := c.id[1:]
		return telego.Chat{ID: usernameChatID(c.key), Type: telego.ChatTypeChannel, Title: name, Username: name}
	case c.num > 0:
		return telego.Chat{ID: c.num, Type: telego.ChatTypePrivate, FirstName: "Sandbox User"}
	case c.num <= supergroupBase:
		return telego.Chat{ID: c.num, Type: telego.ChatTypeSupergroup, Title: "Sandbox Supergroup"}
	default:
		return telego.Chat{ID: c.num, Type: telego.ChatTypeGroup, Title: "Sandbox Group"}
	}
}

// usernameChatID derives a stable channel id for an @username.
func usernameChatID(key string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return supergroupBase - int64(h.Sum64()%1_000_000_000)
}

// botIDOf returns the numeric prefix of a token "<digits>:<secret>".
func botIDOf(token string) (int64, bool) {
	i := strings.IndexByte(token, ':')
	if i <= 0 || i == len(token)-1 {
		return 0, false
	}
	id, err := strconv.ParseInt(token[:i], 10, 64)
	if err != nil || id <= 0 || token[0] == '+' {
		return 0, false
	}
	return id, true
}

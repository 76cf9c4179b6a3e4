package sandbox

import (
	"html"
	"strings"
)

// MaxMessageLength is sendMessage's limit on text length in UTF-16 code
// units, counted after entities parsing.
const MaxMessageLength = 4096

// MaxCaptionLength is the limit on a media caption in UTF-16 code units,
// counted after entities parsing.
const MaxCaptionLength = 1024

// utf16Len returns the length of s in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// visibleText returns text as Telegram shows it: for HTML, with tags removed
// and character references decoded; otherwise unchanged. (Markdown markers
// are counted as text, an over-estimate the sandbox accepts.)
func visibleText(text, parseMode string) string {
	if parseMode != parseModeHTML || !strings.ContainsAny(text, "<&") {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	for i := 0; i < len(text); {
		if text[i] == '<' {
			j := strings.IndexByte(text[i:], '>')
			if j < 0 {
				b.WriteString(text[i:])
				break
			}
			i += j + 1
			continue
		}
		j := strings.IndexByte(text[i:], '<')
		if j < 0 {
			b.WriteString(text[i:])
			break
		}
		b.WriteString(text[i : i+j])
		i += j
	}
	return html.UnescapeString(b.String())
}

// Parse modes as the sandbox normalises them.
const (
	parseModeHTML       = "HTML"
	parseModeMarkdown   = "Markdown"
	parseModeMarkdownV2 = "MarkdownV2"
)

// normaliseParseMode returns the canonical parse mode, "" for none, and
// false if Telegram would not know it.
func normaliseParseMode(pm string) (string, bool) {
	switch {
	case pm == "":
		return "", true
	case strings.EqualFold(pm, parseModeHTML):
		return parseModeHTML, true
	case strings.EqualFold(pm, parseModeMarkdown):
		return parseModeMarkdown, true
	case strings.EqualFold(pm, parseModeMarkdownV2):
		return parseModeMarkdownV2, true
	}
	return "", false
}

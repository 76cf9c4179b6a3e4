package tasks

import (
	"html"
	"regexp"
	"unicode/utf16"
	"unicode/utf8"
)

// UTF16Len returns the length of s in UTF-16 code units, the unit Telegram
// uses for text lengths and entity offsets.
func UTF16Len(s string) int {
	n := 0
	for i := 0; i < len(s); {
		// Most texts are mostly ASCII, one unit a byte: skip decoding.
		if s[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		// Like a range loop, read each invalid byte as U+FFFD.
		r, size := utf8.DecodeRuneInString(s[i:])
		n += utf16.RuneLen(r)
		i += size
	}
	return n
}

var (
	htmlTagRE     = regexp.MustCompile(`<[^>]*>`)
	mdV2EscapeRE  = regexp.MustCompile(`\\([_*\[\]()~` + "`" + `>#+\-=|{}.!\\])`)
	mdLinkRE      = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	mdV2MarkupRE  = regexp.MustCompile(`\|\||__|[*_~` + "`" + `]`)
	mdV1MarkupRE  = regexp.MustCompile(`[*_` + "`" + `]`)
	mdV2EscapePH  = "\x00"
	mdBlockQuoteR = regexp.MustCompile(`(?m)^\*?>`)
)

// VisibleLength returns the length, in UTF-16 code units, of text after
// Telegram parses its markup: HTML tags and Markdown markers do not count
// towards the 4096-character limit. HTML is read as [SplitHTML] reads it
// (a '>' inside a quoted attribute value does not end a tag; a character
// reference counts as the characters it stands for). For malformed HTML,
// which Telegram refuses, it is an estimate; for Markdown, an approximation
// that never over-counts visible text.
func VisibleLength(text, parseMode string) int {
	switch parseMode {
	case ParseModeHTML:
		if n, err := htmlVisibleLength(text); err == nil {
			return n
		}
		return UTF16Len(html.UnescapeString(htmlTagRE.ReplaceAllString(text, "")))
	case ParseModeMarkdownV2:
		// Protect escaped characters, drop links' URLs and markup, restore.
		s := mdV2EscapeRE.ReplaceAllString(text, mdV2EscapePH)
		s = mdLinkRE.ReplaceAllString(s, "$1")
		s = mdBlockQuoteR.ReplaceAllString(s, "")
		s = mdV2MarkupRE.ReplaceAllString(s, "")
		return UTF16Len(s)
	case ParseModeMarkdown:
		s := mdLinkRE.ReplaceAllString(text, "$1")
		s = mdV1MarkupRE.ReplaceAllString(s, "")
		return UTF16Len(s)
	default:
		return UTF16Len(text)
	}
}

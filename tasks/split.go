package tasks

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/mymmrac/telego"
)

// ErrCannotSplit is returned when a text cannot be cut into parts that
// respect the limit without breaking something that must stay whole: an
// unsplittable entity (a URL, a mention, a custom emoji …) or a <tg-emoji>
// element longer than the limit, or Markdown, which the splitters do not
// parse.
var ErrCannotSplit = errors.New("text cannot be split")

// Split points, best first. A text is cut where whitespace separates two
// paragraphs (a run of whitespace holding two or more newlines), else two
// lines (one newline), else two words (other whitespace); the whitespace at
// the cut is dropped. Only when a window of limit characters holds none of
// these is it cut between two characters ([levelHard]), never inside a
// UTF-16 surrogate pair and, as far as a simple rule can tell, never inside a
// user-perceived character: not before a combining mark, a variation
// selector, an emoji modifier or tag, nor next to a zero-width joiner, nor
// inside a flag's pair of regional indicators.
const (
	levelHard = iota
	levelWord
	levelLine
	levelParagraph
)

// splitMax returns the effective limit: 0 or less means [MaxTextLength];
// below 2 a character outside the BMP (2 UTF-16 units) could not fit, so 2 is
// the smallest limit.
func splitMax(limit int) int {
	switch {
	case limit <= 0:
		return MaxTextLength
	case limit < 2:
		return 2
	}
	return limit
}

// SplitText splits a plain text (no parse mode, no entities) into parts of at
// most limit characters, counted in UTF-16 code units as Telegram counts them;
// limit <= 0 means [MaxTextLength] (4096). Each part is as long as the limit
// allows while ending at the best split point: a paragraph break, else a line
// break, else a space, else between two characters (see the split levels
// above). Whitespace at a cut, and at either end of a part, is dropped;
// nothing else is: the parts are the text's pieces in order, and only
// whitespace lies between them. A text within the limit is returned as its
// only part, unchanged; an empty or all-whitespace text gives no parts.
func SplitText(text string, limit int) []string {
	limit = splitMax(limit)
	if isBlank(text) {
		return nil
	}
	if UTF16Len(text) <= limit {
		return []string{text}
	}
	atoms := runeAtoms(text)
	// Without constraints there is always a split point: a rune is at most
	// 2 units and limit is at least 2.
	spans, _ := splitAtoms(atoms, limit, nil)
	out := make([]string, len(spans))
	for i, sp := range spans {
		out[i] = text[atoms[sp.first].lo:atoms[sp.last].hi]
	}
	return out
}

// TextPart is one part of a text with entities, as [SplitEntities] returns
// it: the part's text and its entities, with offsets relative to the part.
type TextPart struct {
	Text     string
	Entities []telego.MessageEntity
}

// SplitEntities splits a text with entities (offsets and lengths in UTF-16
// code units, as the Bot API sends them) like [SplitText], and never inside
// an entity while another split point exists. An entity that must be cut
// because it is longer than what fits (a long bold paragraph, a long code
// block) is cut at the best point inside it and continues in the next part;
// entities that cannot be cut (mention, hashtag, cashtag, bot_command, url,
// email, phone_number, custom_emoji and types this version does not know)
// never are: if one does not fit, the error wraps [ErrCannotSplit]. Entities
// are validated as by [SendMessage.Validate].
func SplitEntities(text string, entities []telego.MessageEntity, limit int) ([]TextPart, error) {
	limit = splitMax(limit)
	if len(entities) > 0 {
		if err := validateEntities("entities", text, entities); err != nil {
			return nil, err
		}
	}
	if isBlank(text) {
		return nil, nil
	}
	if UTF16Len(text) <= limit {
		return []TextPart{{Text: text, Entities: entities}}, nil
	}
	atoms := runeAtoms(text)
	units := make([]int, len(atoms)+1) // UTF-16 offset of each boundary
	for i, a := range atoms {
		units[i+1] = units[i] + a.w
	}
	clean := func(a, b int) (bool, int) {
		depth := 0
		for _, e := range entities {
			if e.Offset < units[a] && e.Offset+e.Length > units[b] {
				if !splittableEntity(e.Type) {
					return false, 0
				}
				depth++
			}
		}
		return true, depth
	}
	spans, err := splitAtoms(atoms, limit, clean)
	if err != nil {
		return nil, fmt.Errorf("%w: an entity that cannot be cut is longer than %d characters", err, limit)
	}
	out := make([]TextPart, len(spans))
	for i, sp := range spans {
		lo, hi := units[sp.first], units[sp.last+1]
		p := TextPart{Text: text[atoms[sp.first].lo:atoms[sp.last].hi]}
		for _, e := range entities {
			from, to := max(e.Offset, lo), min(e.Offset+e.Length, hi)
			if from >= to {
				continue
			}
			e.Offset, e.Length = from-lo, to-from
			p.Entities = append(p.Entities, e)
		}
		out[i] = p
	}
	return out, nil
}

// splittableEntity reports whether an entity of type t may be cut in two,
// each half keeping the type: formatting, yes; links, mentions and other
// entities whose meaning is their whole text, no.
func splittableEntity(t string) bool {
	switch t {
	case telego.EntityTypeBold, telego.EntityTypeItalic, telego.EntityTypeUnderline,
		telego.EntityTypeStrikethrough, telego.EntityTypeSpoiler, telego.EntityTypeCode,
		telego.EntityTypePre, telego.EntityTypeBlockquote, telego.EntityTypeExpandableBlockquote,
		telego.EntityTypeTextLink, telego.EntityTypeTextMention:
		return true
	}
	return false
}

// SplitMessage splits a message whose text is too long into messages of at
// most limit characters after entity parsing (limit <= 0: [MaxTextLength]), in
// the order they must be sent: plain texts with [SplitText], texts with
// Entities with [SplitEntities], HTML with [SplitHTML]. A Markdown or
// MarkdownV2 text longer than limit cannot be split (the error wraps
// [ErrCannotSplit]): use HTML or entities for long texts.
//
// Every part keeps the message's bot, chat, thread, parse mode, link preview
// options and notification and protection flags. ReplyParameters stay on the
// first part (the reply quotes what it answers) and ReplyMarkup moves to the
// last (buttons go under the end of the text). A message within the limit is
// returned as its only part.
func SplitMessage(m *SendMessage, limit int) ([]*SendMessage, error) {
	if m == nil {
		return nil, errors.New("tasks: split: message is nil")
	}
	limit = splitMax(limit)
	if VisibleLength(m.Text, m.ParseMode) <= limit {
		c := *m
		return []*SendMessage{&c}, nil
	}
	var parts []TextPart
	switch m.ParseMode {
	case "":
		if len(m.Entities) > 0 {
			var err error
			if parts, err = SplitEntities(m.Text, m.Entities, limit); err != nil {
				return nil, err
			}
			break
		}
		for _, t := range SplitText(m.Text, limit) {
			parts = append(parts, TextPart{Text: t})
		}
	case ParseModeHTML:
		texts, err := SplitHTML(m.Text, limit)
		if err != nil {
			return nil, err
		}
		for _, t := range texts {
			parts = append(parts, TextPart{Text: t})
		}
	default:
		return nil, invalid("text", ErrCannotSplit, "%s text of %d characters: only plain text, entities and HTML are split",
			m.ParseMode, VisibleLength(m.Text, m.ParseMode))
	}
	out := make([]*SendMessage, len(parts))
	for i, p := range parts {
		c := *m
		c.Text, c.Entities = p.Text, p.Entities
		if i > 0 {
			c.ReplyParameters = nil
		}
		if i < len(parts)-1 {
			c.ReplyMarkup = nil
		}
		out[i] = &c
	}
	return out, nil
}

// atom is the smallest unit the splitter moves: a character, an HTML tag or
// an HTML character reference.
type atom struct {
	lo, hi int  // bytes of the source
	w      int  // UTF-16 units it adds to the visible text
	space  bool // whitespace at which a text may be cut (and which a cut drops)
	blank  bool // any whitespace, no-break spaces included
	nl     bool // a newline
	glue   bool // the text must not be cut right before this atom
}

// kept reports whether a part keeps the atom wherever it is: everything but
// whitespace (tags included).
func (a *atom) kept() bool { return !a.blank }

// span is a part: atoms[from:to], of which the whitespace before atom first
// and after atom last is dropped (tags are kept).
type span struct{ from, to, first, last int }

// cut is a candidate split point: the part ends before atom a, the next one
// starts at atom b; the whitespace in between is dropped.
type cut struct {
	a, b    int
	level   int
	outside bool // no entity or element continues across the cut
}

// better orders cuts: outside entities first, then by level, then the
// longest part.
func (c cut) better(than cut) bool {
	if than.a < 0 {
		return true
	}
	if c.outside != than.outside {
		return c.outside
	}
	if c.level != than.level {
		return c.level > than.level
	}
	return c.a > than.a
}

// splitAtoms cuts atoms into spans of at most limit units, greedily: each part
// ends at the best cut within the window of limit units that starts where it
// starts. Whitespace at either end of a part does not count and is dropped
// (no-break spaces included: they only stop a cut between the words they
// join). clean, if not nil, says whether a cut (a, b) is allowed at all and
// how many entities or elements continue across it (0 is preferred).
func splitAtoms(atoms []atom, limit int, clean func(a, b int) (ok bool, depth int)) ([]span, error) {
	n := len(atoms)
	width := make([]int, n+1)    // visible units before atom i
	content := make([]int, n+1)  // visible non-whitespace atoms before atom i
	lastKept := make([]int, n+1) // the last atom before i that a part keeps at its end, or -1
	lastKept[0] = -1
	for i := range atoms {
		a := &atoms[i]
		width[i+1] = width[i] + a.w
		content[i+1] = content[i]
		if a.w > 0 && !a.blank {
			content[i+1]++
		}
		lastKept[i+1] = lastKept[i]
		if a.w > 0 && a.kept() {
			lastKept[i+1] = i
		}
	}
	// partWidth is the visible width of atoms[first:a] once the whitespace
	// at its end is dropped.
	partWidth := func(first, a int) int {
		if l := lastKept[a]; l >= first {
			return width[l+1] - width[first]
		}
		return 0
	}
	var spans []span
	for s := 0; s < n && content[n] > content[s]; {
		first := s
		for first < n && !(atoms[first].w > 0 && atoms[first].kept()) {
			first++
		}
		if partWidth(first, n) <= limit {
			spans = append(spans, span{s, n, first, lastKept[n]})
			break
		}
		last := first // the part may end before atom last at the latest
		for last < n && partWidth(first, last+1) <= limit {
			last++
		}
		best := cut{a: -1}
		for a := first + 1; a <= last; a++ {
			c := cut{a: a, b: a}
			switch {
			case atoms[a].space && !atoms[a-1].space:
				newlines := 0
				for c.b < n && atoms[c.b].space {
					if atoms[c.b].nl {
						newlines++
					}
					c.b++
				}
				c.level = levelWord + min(newlines, 2)
			case !atoms[a].space && !atoms[a-1].space:
				c.level = levelHard
			default: // inside a run of whitespace
				continue
			}
			if atoms[a].glue || (c.b < n && atoms[c.b].glue) || content[a] == content[s] {
				continue
			}
			ok, depth := true, 0
			if clean != nil {
				ok, depth = clean(c.a, c.b)
			}
			if !ok {
				continue
			}
			c.outside = depth == 0
			if c.better(best) {
				best = c
			}
		}
		if best.a < 0 {
			// Nothing but glued characters in the window (say, 5000
			// combining marks): cut between any two atoms that clean allows.
			for a := last; a > first && content[a] > content[s]; a-- {
				if clean == nil {
					best = cut{a: a, b: a}
					break
				}
				if ok, _ := clean(a, a); ok {
					best = cut{a: a, b: a}
					break
				}
			}
			if best.a < 0 {
				return nil, ErrCannotSplit
			}
		}
		spans = append(spans, span{s, best.a, first, lastKept[best.a]})
		s = best.b
	}
	return spans, nil
}

// runeAtoms returns one atom per rune of text.
func runeAtoms(text string) []atom {
	atoms := make([]atom, 0, len(text))
	var g glueState
	for i, r := range text {
		size := utf8.RuneLen(r)
		if r == utf8.RuneError {
			_, size = utf8.DecodeRuneInString(text[i:])
		}
		atoms = append(atoms, runeAtom(i, i+size, r, &g))
	}
	return atoms
}

// runeWidth is the number of UTF-16 units of r; an invalid rune counts as
// the one unit of its replacement character.
func runeWidth(r rune) int {
	if w := utf16.RuneLen(r); w > 0 {
		return w
	}
	return 1
}

func runeAtom(lo, hi int, r rune, g *glueState) atom {
	return atom{lo: lo, hi: hi, w: runeWidth(r), space: isBreakSpace(r), blank: unicode.IsSpace(r), nl: r == '\n', glue: g.next(r)}
}

// isBreakSpace reports whether a text may be cut at r: Unicode whitespace
// except the no-break spaces.
func isBreakSpace(r rune) bool {
	switch r {
	case '\u00a0', '\u2007', '\u202f', '\u2060', '\ufeff':
		return false
	}
	return unicode.IsSpace(r)
}

func isBlank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

const zwj = '\u200d'

// glueState approximates grapheme cluster boundaries (UAX #29) closely enough
// for emoji and combining marks: next reports whether r must stay with the
// rune before it.
type glueState struct {
	prev       rune
	indicators int // regional indicators in a row, ending at prev
}

func (g *glueState) next(r rune) bool {
	prev := g.prev
	g.prev = r
	isRI := r >= 0x1F1E6 && r <= 0x1F1FF
	glue := false
	switch {
	case prev == 0:
	case prev == zwj, r == zwj:
		glue = true
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc):
		glue = true
	case r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0100 && r <= 0xE01EF: // variation selectors
		glue = true
	case r >= 0x1F3FB && r <= 0x1F3FF: // emoji skin tone modifiers
		glue = true
	case r >= 0xE0020 && r <= 0xE007F: // emoji tag sequences (subdivision flags)
		glue = true
	case isRI && g.indicators%2 == 1: // second half of a flag
		glue = true
	case prev == '\r' && r == '\n':
		glue = true
	}
	if isRI {
		g.indicators++
	} else {
		g.indicators = 0
	}
	return glue
}

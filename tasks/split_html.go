package tasks

import (
	"errors"
	"fmt"
	"html"
	"regexp"
	"strings"
	"unicode/utf8"
)

// ErrMalformedHTML is wrapped by the error [SplitHTML] returns for a text
// whose tags do not nest (Telegram would refuse it too).
var ErrMalformedHTML = errors.New("malformed HTML")

// charRefRE matches an HTML character reference at the start of a string.
var charRefRE = regexp.MustCompile(`^&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});`)

// element is an open HTML element at some point of a text; elements form a
// persistent stack (each points to its parent), so every boundary can keep
// its own stack at no cost.
type element struct {
	name   string // lower case
	open   string // the opening tag as written
	parent *element
}

// atomicElement reports whether an element must never be cut: a custom
// emoji's fallback emoji is a single thing.
func atomicElement(name string) bool { return name == "tg-emoji" }

// SplitHTML splits a text in Telegram's HTML parse mode into parts whose
// visible text (tags removed, character references decoded, counted in
// UTF-16 units) is at most limit characters; limit <= 0 means
// [MaxTextLength].
// Cuts follow [SplitText]'s preferences and are never made inside a tag or a
// character reference (&amp;, &#128512;). A cut outside every element is
// preferred to any cut inside one; when an element must be cut (a long <pre>
// block, a bold paragraph), the part ends by closing the open elements and
// the next one starts by reopening them with their original attributes, so
// every part is well-formed. A <tg-emoji> element is never cut.
//
// Tags must nest: a closing tag that does not match the open element, an
// unclosed element or a '<' that starts no tag is an error wrapping
// [ErrMalformedHTML]. A text within the limit is returned unchanged.
func SplitHTML(text string, limit int) ([]string, error) {
	limit = splitMax(limit)
	atoms, opens, err := htmlAtoms(text)
	if err != nil {
		return nil, err
	}
	width, blank := 0, true
	for _, a := range atoms {
		width += a.w
		if a.w > 0 && !a.blank {
			blank = false
		}
	}
	if blank {
		return nil, nil
	}
	if width <= limit {
		return []string{text}, nil
	}
	// stacks[i] is the stack of open elements before atom i.
	stacks := make([]*element, len(atoms)+1)
	var cur *element
	for i, a := range atoms {
		stacks[i] = cur
		switch {
		case opens[i] != "":
			cur = &element{name: opens[i], open: text[a.lo:a.hi], parent: cur}
		case a.w == 0 && strings.HasPrefix(text[a.lo:a.hi], "</"):
			cur = cur.parent // htmlAtoms checked the nesting
		}
	}
	stacks[len(atoms)] = cur
	clean := func(a, _ int) (bool, int) {
		depth := 0
		for e := stacks[a]; e != nil; e = e.parent {
			if atomicElement(e.name) {
				return false, 0
			}
			depth++
		}
		return true, depth
	}
	spans, err := splitAtoms(atoms, limit, clean)
	if err != nil {
		return nil, fmt.Errorf("%w: a <tg-emoji> element is longer than %d characters", err, limit)
	}
	out := make([]string, len(spans))
	for i, sp := range spans {
		var b strings.Builder
		reopen(&b, stacks[sp.from])
		for j := sp.from; j < sp.to; j++ {
			if a := atoms[j]; a.kept() || (j > sp.first && j < sp.last) {
				b.WriteString(text[a.lo:a.hi])
			}
		}
		for e := stacks[sp.to]; e != nil; e = e.parent {
			b.WriteString("</" + e.name + ">")
		}
		out[i] = b.String()
	}
	return out, nil
}

// reopen writes the opening tags of the stack ending at e, outermost first.
func reopen(b *strings.Builder, e *element) {
	if e == nil {
		return
	}
	reopen(b, e.parent)
	b.WriteString(e.open)
}

// htmlToken is one token of a Telegram HTML text: a tag, a character
// reference or another character.
type htmlToken struct {
	lo, hi  int    // bytes of the text
	tag     string // a tag's lower-case element name; "" for text
	closing bool   // the tag closes an element
	r       rune   // the character, or the first of the reference's text
	ref     string // a character reference's decoded text
}

// walkHTML calls visit for each token of a Telegram HTML text, in order,
// and checks that tags nest; its errors wrap [ErrMalformedHTML]. It is the
// one tokenizer behind [SplitHTML] and [VisibleLength].
func walkHTML(text string, visit func(htmlToken)) error {
	var stack []string
	for i := 0; i < len(text); {
		switch text[i] {
		case '<':
			end, name, closing, err := scanTag(text, i)
			if err != nil {
				return err
			}
			if closing {
				if len(stack) == 0 || stack[len(stack)-1] != name {
					return fmt.Errorf("%w: </%s> at byte %d closes no open <%s>", ErrMalformedHTML, name, i, name)
				}
				stack = stack[:len(stack)-1]
			} else {
				stack = append(stack, name)
			}
			visit(htmlToken{lo: i, hi: end, tag: name, closing: closing})
			i = end
			continue
		case '&':
			if ref := charRefRE.FindString(text[i:]); ref != "" {
				if s := html.UnescapeString(ref); s != ref {
					r, _ := utf8.DecodeRuneInString(s)
					visit(htmlToken{lo: i, hi: i + len(ref), r: r, ref: s})
					i += len(ref)
					continue
				}
			}
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		visit(htmlToken{lo: i, hi: i + size, r: r})
		i += size
	}
	if len(stack) > 0 {
		return fmt.Errorf("%w: <%s> is not closed", ErrMalformedHTML, stack[len(stack)-1])
	}
	return nil
}

// htmlVisibleLength returns the length in UTF-16 units of a well-formed
// Telegram HTML text once its tags are removed and its character references
// decoded.
func htmlVisibleLength(text string) (int, error) {
	n := 0
	err := walkHTML(text, func(t htmlToken) {
		switch {
		case t.tag != "":
		case t.ref != "":
			n += UTF16Len(t.ref)
		default:
			n += runeWidth(t.r)
		}
	})
	return n, err
}

// htmlAtoms tokenizes a Telegram HTML text into atoms: one per tag (width 0),
// character reference or other character. opens[i] is the element name of an
// opening tag at atom i. It checks that tags nest.
func htmlAtoms(text string) (atoms []atom, opens []string, err error) {
	atoms = make([]atom, 0, len(text))
	opens = make([]string, 0, len(text))
	var (
		g     glueState
		after bool // the previous atom is an opening tag
	)
	err = walkHTML(text, func(t htmlToken) {
		var a atom
		open := ""
		if t.tag != "" {
			a = atom{lo: t.lo, hi: t.hi, glue: after || t.closing}
			if !t.closing {
				open = t.tag
			}
			after = !t.closing
		} else {
			a = runeAtom(t.lo, t.hi, t.r, &g)
			if t.ref != "" {
				a.w = UTF16Len(t.ref)
			}
			a.glue = a.glue || after
			after = false
		}
		atoms, opens = append(atoms, a), append(opens, open)
	})
	if err != nil {
		return nil, nil, err
	}
	return atoms, opens, nil
}

// scanTag reads the tag starting at text[i] == '<' and returns the index
// after its '>', its lower-case name and whether it is a closing tag. A '>'
// inside a quoted attribute value does not end the tag.
func scanTag(text string, i int) (end int, name string, closing bool, err error) {
	j := tagEnd(text, i+1)
	if j < 0 {
		return 0, "", false, fmt.Errorf("%w: '<' at byte %d starts no tag (write &lt; for a literal '<')", ErrMalformedHTML, i)
	}
	inner := text[i+1 : j]
	if strings.HasPrefix(inner, "/") {
		closing, inner = true, inner[1:]
	}
	k := 0
	for k < len(inner) && (isASCIILetter(inner[k]) || (k > 0 && (inner[k] >= '0' && inner[k] <= '9' || inner[k] == '-'))) {
		k++
	}
	if k == 0 {
		return 0, "", false, fmt.Errorf("%w: '<' at byte %d starts no tag (write &lt; for a literal '<')", ErrMalformedHTML, i)
	}
	return j + 1, strings.ToLower(inner[:k]), closing, nil
}

// tagEnd returns the index of the '>' that ends a tag whose text starts at
// text[j], or -1.
func tagEnd(text string, j int) int {
	var quote byte
	for ; j < len(text); j++ {
		switch c := text[j]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return j
		}
	}
	return -1
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

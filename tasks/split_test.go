package tasks_test

import (
	"errors"
	"fmt"
	"html"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/mymmrac/telego"

	"github.com/telequeue/telequeue/tasks"
)

func TestSplitText(t *testing.T) {
	family := "👨\u200d👩\u200d👧" // 8 UTF-16 units, one character
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"fits: unchanged", "  hello\n\nworld ", 20, []string{"  hello\n\nworld "}},
		{"empty", "", 10, nil},
		{"blank", " \n\t ", 2, nil},
		{"paragraph before line and word", "aaa bbb\n\nccc ddd", 10, []string{"aaa bbb", "ccc ddd"}},
		{"paragraph even when a later line break fills more", "ab\n\ncd\nef gh", 9, []string{"ab", "cd\nef gh"}},
		{"line before word", "aa bb\ncc dd ee", 8, []string{"aa bb", "cc dd ee"}},
		{"word", "hello world foo", 11, []string{"hello world", "foo"}},
		{"paragraph made of spaces and newlines", "a b\n \nc d", 4, []string{"a b", "c d"}},
		{"CRLF line break", "ab\r\ncd ef", 5, []string{"ab", "cd ef"}},
		{"hard cut without whitespace", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"surrogate pairs stay whole", "😀😀😀", 3, []string{"😀", "😀", "😀"}},
		{"surrogate pairs fill the limit", "😀😀😀", 4, []string{"😀😀", "😀"}},
		{"skin tone modifier stays with its emoji", "xx👍🏽", 4, []string{"xx", "👍🏽"}},
		{"combining accent stays with its letter", "abcde\u0301f", 5, []string{"abcd", "e\u0301f"}},
		{"flags split between, not inside, pairs", "🇩🇪🇫🇷", 6, []string{"🇩🇪", "🇫🇷"}},
		{"ZWJ sequence kept when it fits", "ab " + family + " cd", 9, []string{"ab", family, "cd"}},
		{"no-break space is not a split point", "aaa\u00a0bbb ccc", 8, []string{"aaa\u00a0bbb", "ccc"}},
		{"no-break space cut hard when nothing else", "aaa\u00a0bbb", 5, []string{"aaa\u00a0b", "bb"}},
		{"whitespace at the cut dropped, not elsewhere", "one  two   three", 8, []string{"one  two", "three"}},
		{"limit 0 means 4096", strings.Repeat("a", 4097), 0, []string{strings.Repeat("a", 4096), "a"}},
		{"limit 1 means 2", "😀a", 1, []string{"😀", "a"}},
		{"Cyrillic counts one unit per letter", "привет мир", 6, []string{"привет", "мир"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tasks.SplitText(tt.text, tt.limit)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitText(%q, %d) = %q, want %q", tt.text, tt.limit, got, tt.want)
			}
			limit := tt.limit
			if limit <= 0 {
				limit = tasks.MaxTextLength
			}
			checkTextParts(t, tt.text, got, max(limit, 2), false)
		})
	}
}

func TestSplitTextLong(t *testing.T) {
	// A realistic reply: 30 paragraphs of 300 characters of words.
	var b strings.Builder
	for p := range 30 {
		if p > 0 {
			b.WriteString("\n\n")
		}
		for w := 0; b.Len() < (p+1)*302; w++ {
			fmt.Fprintf(&b, "word%d ", w%10)
		}
		b.WriteString("end.")
	}
	text := b.String()
	parts := tasks.SplitText(text, tasks.MaxTextLength)
	checkTextParts(t, text, parts, tasks.MaxTextLength, true)
	for i, p := range parts[:len(parts)-1] {
		if !strings.HasSuffix(p, "end.") {
			t.Errorf("part %d does not end at a paragraph: …%q", i, p[len(p)-20:])
		}
	}
	if len(parts) != 3 {
		t.Errorf("%d parts, want 3", len(parts))
	}
}

// checkTextParts checks the invariants of SplitText's result.
func checkTextParts(t *testing.T, text string, parts []string, limit int, grapheme bool) {
	t.Helper()
	rest := text
	for i, p := range parts {
		n := tasks.UTF16Len(p)
		switch {
		case n == 0 || n > limit:
			t.Fatalf("part %d has %d units (limit %d): %q", i, n, limit, p)
		case !utf8.ValidString(p):
			t.Fatalf("part %d is not valid UTF-8: %q", i, p)
		case strings.TrimFunc(p, unicode.IsSpace) == "":
			t.Fatalf("part %d is blank: %q", i, p)
		}
		j := strings.Index(rest, p)
		if j < 0 {
			t.Fatalf("part %d %q is not the next piece of the text %q", i, p, rest)
		}
		if gap := rest[:j]; strings.TrimFunc(gap, unicode.IsSpace) != "" {
			t.Fatalf("before part %d the text %q was dropped", i, gap)
		}
		rest = rest[j+len(p):]
		if grapheme {
			if r, _ := utf8.DecodeRuneInString(p); isGlue(r) {
				t.Errorf("part %d starts inside a character: %q", i, p)
			}
			if r, _ := utf8.DecodeLastRuneInString(p); r == '\u200d' {
				t.Errorf("part %d ends with a zero-width joiner: %q", i, p)
			}
		}
	}
	if strings.TrimFunc(rest, unicode.IsSpace) != "" {
		t.Fatalf("the end of the text %q is in no part", rest)
	}
}

func isGlue(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc) || r == '\u200d' ||
		(r >= 0xFE00 && r <= 0xFE0F) || (r >= 0x1F3FB && r <= 0x1F3FF)
}

// Pieces of random texts: words in several scripts, emoji (surrogate pairs),
// grapheme clusters of up to 8 UTF-16 units, and whitespace.
var textPieces = []string{
	"a", "word", "telequeue", "привет", "日本語", "😀", "👍🏽", "e\u0301", "🇩🇪", "👨\u200d👩\u200d👧", "1️⃣",
	" ", " ", " ", "\n", "\n\n", "\t", "x\u00a0y", "  ", "\r\n",
}

func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(textPieces[r.IntN(len(textPieces))])
	}
	return b.String()
}

// TestSplitTextProperties checks SplitText's invariants on random texts and
// limits: parts within the limit, in order, nothing but whitespace at cuts
// lost, no character cut apart.
func TestSplitTextProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		text := randomText(r, r.IntN(200))
		limit := 8 + r.IntN(60) // clusters are at most 8 units
		parts := tasks.SplitText(text, limit)
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkTextParts(t, text, parts, limit, true) })
		if t.Failed() {
			t.Fatalf("text %q, limit %d → %q", text, limit, parts)
		}
	}
}

func FuzzSplitText(f *testing.F) {
	f.Add("hello world\n\nsecond paragraph", 7)
	f.Add("😀😀😀 e\u0301e\u0301 🇩🇪🇫🇷", 3)
	f.Add(strings.Repeat("ab ", 50), 10)
	f.Add("\xff\xfe broken", 4)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if !utf8.ValidString(text) || limit > 10000 || len(text) > 20000 {
			t.Skip()
		}
		parts := tasks.SplitText(text, limit)
		if limit <= 0 {
			limit = tasks.MaxTextLength
		}
		checkTextParts(t, text, parts, max(limit, 2), false)
	})
}

func TestSplitEntities(t *testing.T) {
	bold := func(off, n int) telego.MessageEntity {
		return telego.MessageEntity{Type: telego.EntityTypeBold, Offset: off, Length: n}
	}
	url := func(off, n int) telego.MessageEntity {
		return telego.MessageEntity{Type: telego.EntityTypeURL, Offset: off, Length: n}
	}
	link := telego.MessageEntity{Type: telego.EntityTypeTextLink, Offset: 0, Length: 11, URL: "https://example.com"}
	tests := []struct {
		name     string
		text     string
		entities []telego.MessageEntity
		limit    int
		want     []tasks.TextPart
		err      error
	}{
		{"fits", "hello", []telego.MessageEntity{bold(0, 5)}, 10, []tasks.TextPart{{"hello", []telego.MessageEntity{bold(0, 5)}}}, nil},
		{"cut outside the entity rather than inside", "hello world again", []telego.MessageEntity{bold(6, 11)}, 11,
			[]tasks.TextPart{{"hello", nil}, {"world again", []telego.MessageEntity{bold(0, 11)}}}, nil},
		{"entity longer than the limit is cut and continues", "aaa bbb ccc", []telego.MessageEntity{bold(0, 11)}, 7,
			[]tasks.TextPart{{"aaa bbb", []telego.MessageEntity{bold(0, 7)}}, {"ccc", []telego.MessageEntity{bold(0, 3)}}}, nil},
		{"text_link keeps its URL in both halves", "aaaaa bbbbb", []telego.MessageEntity{link}, 6,
			[]tasks.TextPart{{"aaaaa", []telego.MessageEntity{{Type: "text_link", Offset: 0, Length: 5, URL: "https://example.com"}}},
				{"bbbbb", []telego.MessageEntity{{Type: "text_link", Offset: 0, Length: 5, URL: "https://example.com"}}}}, nil},
		{"URL kept whole", "ab https://x.io cd", []telego.MessageEntity{url(3, 12)}, 12,
			[]tasks.TextPart{{"ab", nil}, {"https://x.io", []telego.MessageEntity{url(0, 12)}}, {"cd", nil}}, nil},
		{"URL longer than the limit", "see https://example.com/abc", []telego.MessageEntity{url(4, 23)}, 10, nil, tasks.ErrCannotSplit},
		{"offsets in UTF-16 units after an emoji", "😀 x bold", []telego.MessageEntity{bold(5, 4)}, 4,
			[]tasks.TextPart{{"😀 x", nil}, {"bold", []telego.MessageEntity{bold(0, 4)}}}, nil},
		{"whitespace-only piece of an entity dropped with the cut", "aaa\n\nbbb", []telego.MessageEntity{bold(3, 2)}, 5,
			[]tasks.TextPart{{"aaa", nil}, {"bbb", nil}}, nil},
		{"invalid entity", "abc", []telego.MessageEntity{bold(2, 5)}, 10, nil, tasks.ErrInvalidEntities},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tasks.SplitEntities(tt.text, tt.entities, tt.limit)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestSplitEntitiesProperties: on random texts with random (nested and
// overlapping) formatting entities, every part's entities are valid, and
// every visible character keeps exactly the formatting it had.
func TestSplitEntitiesProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	types := []string{"bold", "italic", "code", "underline", "text_link"}
	for range 2000 {
		text := randomText(r, 1+r.IntN(150))
		n := tasks.UTF16Len(text)
		var ents []telego.MessageEntity
		for range r.IntN(6) {
			off := r.IntN(n)
			ents = append(ents, telego.MessageEntity{Type: types[r.IntN(len(types))], Offset: off, Length: 1 + r.IntN(n-off)})
		}
		limit := 8 + r.IntN(40)
		parts, err := tasks.SplitEntities(text, ents, limit)
		if err != nil {
			t.Fatalf("text %q, entities %v: %v", text, ents, err)
		}
		var texts []string
		var got []string
		for j, p := range parts {
			texts = append(texts, p.Text)
			m := tasks.SendMessage{ChatID: telego.ChatID{ID: 1}, Text: p.Text, Entities: p.Entities}
			if err := m.Validate(); err != nil {
				t.Fatalf("part %d of %q: %v", j, text, err)
			}
			got = append(got, formatOf(p.Text, p.Entities)...)
		}
		checkTextParts(t, text, texts, limit, true)
		if want := formatOf(text, ents); !reflect.DeepEqual(got, want) {
			t.Fatalf("text %q, entities %v, limit %d: formatting changed\n got %v\nwant %v", text, ents, limit, got, want)
		}
	}
}

// formatOf lists, for each visible non-space character, the character and
// the sorted types of the entities covering it.
func formatOf(text string, ents []telego.MessageEntity) []string {
	var out []string
	u := 0
	for _, r := range text {
		if !unicode.IsSpace(r) {
			var types []string
			for _, e := range ents {
				if e.Offset <= u && u < e.Offset+e.Length {
					types = append(types, e.Type)
				}
			}
			sortStrings(types)
			out = append(out, string(r)+strings.Join(types, "+"))
		}
		u += tasks.UTF16Len(string(r))
	}
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestSplitHTML(t *testing.T) {
	const a = `<a href="https://x.y/?q=a>b">`
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
		err   error
	}{
		{"fits", "<b>hi</b> there", 8, []string{"<b>hi</b> there"}, nil},
		{"tags do not count", "<b>aaa</b> <i>bbb</i>", 7, []string{"<b>aaa</b> <i>bbb</i>"}, nil},
		{"cut outside elements preferred", "<b>aaa bbb</b> ccc", 7, []string{"<b>aaa bbb</b>", "ccc"}, nil},
		{"element cut: closed and reopened", "<b>aaa bbb ccc</b>", 7, []string{"<b>aaa bbb</b>", "<b>ccc</b>"}, nil},
		{"attributes kept, '>' in a quoted value", a + "link text</a>", 5, []string{a + "link</a>", a + "text</a>"}, nil},
		{"nested pre and code", "<pre><code class=\"language-go\">line1\nline2</code></pre>", 6,
			[]string{"<pre><code class=\"language-go\">line1</code></pre>", "<pre><code class=\"language-go\">line2</code></pre>"}, nil},
		{"character references count once, never cut", "&lt;&lt;&lt; &amp;&amp;", 3, []string{"&lt;&lt;&lt;", "&amp;&amp;"}, nil},
		{"numeric reference of a surrogate pair", "&#128512;&#128512;&#128512;", 4, []string{"&#128512;&#128512;", "&#128512;"}, nil},
		{"hard cut never inside a tag", "<b>abcdef</b>", 3, []string{"<b>abc</b>", "<b>def</b>"}, nil},
		{"no empty elements at a cut", "aaa <b>bbb</b>", 4, []string{"aaa", "<b>bbb</b>"}, nil},
		{"tg-emoji never cut", `ab <tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> cd`, 3,
			[]string{"ab", `<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>`, "cd"}, nil},
		{"spoiler span", `<span class="tg-spoiler">aa bb</span>`, 2,
			[]string{`<span class="tg-spoiler">aa</span>`, `<span class="tg-spoiler">bb</span>`}, nil},
		{"mismatched close", "<b>x</i>", 10, nil, tasks.ErrMalformedHTML},
		{"unclosed", "<b>x", 10, nil, tasks.ErrMalformedHTML},
		{"bare <", "1 < 2", 10, nil, tasks.ErrMalformedHTML},
		{"blank", "<b> </b>", 10, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tasks.SplitHTML(tt.text, tt.limit)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitHTML(%q, %d)\n got %q\nwant %q", tt.text, tt.limit, got, tt.want)
			}
		})
	}
}

// htmlOpenTags are the elements randomHTML nests, with attributes whose
// quoted values hold what a naive tag scanner trips on: '>', '<', the other
// quote, '&' and spaces.
var htmlOpenTags = [...]struct{ open, name string }{
	{"<b>", "b"}, {"<i>", "i"}, {"<code>", "code"}, {"<u>", "u"},
	{`<a href="https://e.x/?a=1&amp;b=2">`, "a"},
	{`<a href="https://x.y/?q=a>b&c='d'">`, "a"},
	{`<a href='https://x.y/?q="<i>"'>`, "a"},
	{`<span class="tg-spoiler">`, "span"},
	{`<code class="language-go>1">`, "code"},
	{`<blockquote expandable>`, "blockquote"},
	{`<A HREF = "tg://user?id=1" >`, "a"},
}

// randomHTML builds well-formed Telegram HTML with nested elements.
func randomHTML(r *rand.Rand, depth int) string {
	var b strings.Builder
	for range 1 + r.IntN(6) {
		switch k := r.IntN(11); {
		case k < 5 || depth > 2:
			b.WriteString(html.EscapeString(randomText(r, 1+r.IntN(6))))
		case k == 5:
			b.WriteString("&lt;&amp;&#128512;&quot;&#x1F600;")
		case k == 6:
			b.WriteString(`"quoted" 'text' >`)
		case k == 7:
			b.WriteString(`<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>`)
		default:
			e := htmlOpenTags[r.IntN(len(htmlOpenTags))]
			b.WriteString(e.open + randomHTML(r, depth+1) + "</" + e.name + ">")
		}
	}
	return b.String()
}

// htmlRefRE matches the character references Telegram decodes.
var htmlRefRE = regexp.MustCompile(`^&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});`)

// htmlFormat is a test oracle written apart from SplitHTML's tokenizer: it
// lists, for each visible non-space character of well-formed Telegram HTML,
// the character and the opening tags around it as written (attributes
// included), outermost first; and it returns the visible length in UTF-16
// units. A quoted attribute value may hold '>', '<' or the other quote.
func htmlFormat(t *testing.T, s string) (chars []string, width int) {
	t.Helper()
	var stack []string
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			j, quote := i+1, byte(0)
			for ; j < len(s) && (quote != 0 || s[j] != '>'); j++ {
				switch {
				case quote != 0 && s[j] == quote:
					quote = 0
				case quote == 0 && (s[j] == '"' || s[j] == '\''):
					quote = s[j]
				}
			}
			if j == len(s) {
				t.Fatalf("oracle: unterminated tag at byte %d of %q", i, s)
			}
			if s[i+1] == '/' {
				if len(stack) == 0 {
					t.Fatalf("oracle: stray %q in %q", s[i:j+1], s)
				}
				stack = stack[:len(stack)-1]
			} else {
				stack = append(stack, s[i:j+1])
			}
			i = j + 1
			continue
		case '&':
			if ref := htmlRefRE.FindString(s[i:]); ref != "" && html.UnescapeString(ref) != ref {
				for _, r := range html.UnescapeString(ref) {
					width += tasks.UTF16Len(string(r))
					if !unicode.IsSpace(r) {
						chars = append(chars, string(r)+"/"+strings.Join(stack, "/"))
					}
				}
				i += len(ref)
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		width += tasks.UTF16Len(string(r))
		if !unicode.IsSpace(r) {
			chars = append(chars, string(r)+"/"+strings.Join(stack, "/"))
		}
		i += size
	}
	if len(stack) > 0 {
		t.Fatalf("oracle: %q not closed in %q", stack, s)
	}
	return chars, width
}

// checkHTMLParts checks SplitHTML's result against the oracle: every part
// is well-formed, has 1 to limit visible characters by the oracle's count
// and by VisibleLength (which validation uses), and the parts together show
// every visible character of the text, in order, inside the same elements
// with the same attributes.
func checkHTMLParts(t *testing.T, text string, parts []string, limit int) {
	t.Helper()
	want, _ := htmlFormat(t, text)
	var got []string
	for i, p := range parts {
		if _, err := tasks.SplitHTML(p, 1<<20); err != nil {
			t.Fatalf("part %d of %q is not well-formed: %q: %v", i, text, p, err)
		}
		chars, n := htmlFormat(t, p)
		if n == 0 || n > limit {
			t.Fatalf("part %d of %q has %d visible units (limit %d): %q", i, text, n, limit, p)
		}
		if v := tasks.VisibleLength(p, tasks.ParseModeHTML); v != n {
			t.Fatalf("part %d of %q: VisibleLength %d, oracle %d: %q", i, text, v, n, p)
		}
		got = append(got, chars...)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q, limit %d: visible text or formatting changed:\nparts %q\n got %q\nwant %q", text, limit, parts, got, want)
	}
}

func TestSplitHTMLProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 3000 {
		text := randomHTML(r, 0)
		limit := 8 + r.IntN(40)
		parts, err := tasks.SplitHTML(text, limit)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		checkHTMLParts(t, text, parts, limit)
	}
}

// FuzzSplitHTML splits arbitrary text, quoted attributes included (the
// seeds here and in testdata/fuzz/FuzzSplitHTML hold '>', '<' and quotes
// inside attribute values; those in testdata made VisibleLength count a
// quoted '>' and what followed it as text). A text SplitHTML
// refuses must be malformed or hold an unsplittable <tg-emoji>; the parts of
// any other must pass checkHTMLParts.
//
//	go test -run='^$' -fuzz='^FuzzSplitHTML$' -fuzztime=60s -fuzzminimizetime=2s ./tasks/
func FuzzSplitHTML(f *testing.F) {
	f.Add("<b>bold <i>both</i></b> plain &amp; more", 5)
	f.Add(`<a href="https://x.y">a b c</a><pre>1 2 3</pre>`, 2)
	f.Add(`<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> and <span class="tg-spoiler">s p</span>`, 2)
	f.Add(`<blockquote expandable>q &quot;u&quot; o t e</blockquote>`, 3)
	f.Add(`<A HREF = "tg://user?id=1" >A B</a>`, 1)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if !utf8.ValidString(text) || limit > 10000 || len(text) > 20000 {
			t.Skip()
		}
		parts, err := tasks.SplitHTML(text, limit)
		if err != nil {
			if !errors.Is(err, tasks.ErrMalformedHTML) && !errors.Is(err, tasks.ErrCannotSplit) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		switch {
		case limit <= 0:
			limit = tasks.MaxTextLength
		case limit < 2:
			limit = 2
		}
		checkHTMLParts(t, text, parts, limit)
	})
}

func TestSplitMessage(t *testing.T) {
	markup := []byte(`{"inline_keyboard":[[{"text":"ok","callback_data":"ok"}]]}`)
	m := &tasks.SendMessage{
		Bot: "alerts", ChatID: telego.ChatID{ID: 42}, Text: "<b>aaa bbb ccc</b>", ParseMode: tasks.ParseModeHTML,
		ReplyParameters: &telego.ReplyParameters{MessageID: 7}, ReplyMarkup: markup, DisableNotification: true,
	}
	parts, err := tasks.SplitMessage(m, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].Text != "<b>aaa bbb</b>" || parts[1].Text != "<b>ccc</b>" {
		t.Fatalf("parts %+v", parts)
	}
	for i, p := range parts {
		if p.Bot != "alerts" || p.ChatID.ID != 42 || p.ParseMode != "HTML" || !p.DisableNotification {
			t.Errorf("part %d lost fields: %+v", i, p)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("part %d: %v", i, err)
		}
	}
	if parts[0].ReplyParameters == nil || parts[1].ReplyParameters != nil {
		t.Error("reply_parameters must stay on the first part only")
	}
	if parts[0].ReplyMarkup != nil || parts[1].ReplyMarkup == nil {
		t.Error("reply_markup must move to the last part")
	}
	if m.Text != "<b>aaa bbb ccc</b>" || m.ReplyMarkup == nil {
		t.Error("SplitMessage changed its argument")
	}

	if _, err := tasks.SplitMessage(&tasks.SendMessage{ChatID: telego.ChatID{ID: 1}, Text: strings.Repeat("*a* ", 3000), ParseMode: tasks.ParseModeMarkdownV2}, 0); !errors.Is(err, tasks.ErrCannotSplit) {
		t.Errorf("long MarkdownV2: err = %v, want ErrCannotSplit", err)
	}
	short := &tasks.SendMessage{ChatID: telego.ChatID{ID: 1}, Text: "*short*", ParseMode: tasks.ParseModeMarkdownV2}
	if parts, err := tasks.SplitMessage(short, 0); err != nil || len(parts) != 1 || parts[0] == short {
		t.Errorf("short MarkdownV2: %v, %v (want one copy)", parts, err)
	}
}

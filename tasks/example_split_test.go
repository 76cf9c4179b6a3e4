package tasks_test

import (
	"fmt"

	"github.com/telequeue/telequeue/tasks"
)

func ExampleSplitText() {
	text := "First paragraph, short.\n\nSecond paragraph: a line\nand another line that is longer."
	for _, p := range tasks.SplitText(text, 40) {
		fmt.Printf("%q\n", p)
	}
	// Output:
	// "First paragraph, short."
	// "Second paragraph: a line"
	// "and another line that is longer."
}

func ExampleSplitHTML() {
	parts, err := tasks.SplitHTML(`<b>bold words that go on</b> and plain ones`, 16)
	if err != nil {
		panic(err)
	}
	for _, p := range parts {
		fmt.Println(p)
	}
	// Output:
	// <b>bold words that</b>
	// <b>go on</b> and plain
	// ones
}

package dataitem

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrTagNotUTF8 reports a tag name or value that is not valid UTF-8.
var ErrTagNotUTF8 = errors.New("dataitem: tag is not valid UTF-8")

// CheckTagsUTF8 returns an error wrapping ErrTagNotUTF8 for the first tag whose name or value
// is not valid UTF-8. The format allows any bytes, but every reader of tags (arbundles, the
// reference units, aoconnect, aos) decodes them as UTF-8 with replacement characters, so
// such a tag reads differently from what was signed; aonode's intake refuses them.
func (it *Item) CheckTagsUTF8() error {
	for i, t := range it.Tags {
		switch {
		case !utf8.ValidString(t.Name):
			return fmt.Errorf("%w: the name of tag %d", ErrTagNotUTF8, i+1)
		case !utf8.ValidString(t.Value):
			return fmt.Errorf("%w: the value of tag %d (%q)", ErrTagNotUTF8, i+1, t.Name)
		}
	}
	return nil
}

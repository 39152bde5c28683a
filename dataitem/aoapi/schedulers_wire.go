package aoapi

import (
	"encoding/base64"
	"strings"

	"github.com/aonode/aonode/dataitem"
)

// SchedulersOf is Schedulers for tags in their wire shape (a Process as an SU serves it).
func SchedulersOf(tags []Tag) []string {
	items := make([]dataitem.Tag, len(tags))
	for i, t := range tags {
		items[i] = dataitem.Tag(t)
	}
	return Schedulers(items)
}

// SignerOf is the address of an item's signer as the SU serves it: derived from the owner's
// public key when the key is there (the address field is only a claim), else the address.
func SignerOf(o Owner) string {
	if o.Key != "" {
		if key, err := decodeB64(o.Key); err == nil && len(key) > 0 {
			return dataitem.OwnerAddress(key)
		}
		return ""
	}
	return o.Address
}

func decodeB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

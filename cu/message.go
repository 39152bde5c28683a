package cu

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"golang.org/x/crypto/sha3"

	"github.com/aonode/aonode/cu/emscripten/jsjson"
)

// aoMessage is the msg object handed to the module (ao-protocol.md §2.4), fields in the order
// of the reference's message schema. Absent fields are omitted, as JSON.stringify drops
// undefined values.
type aoMessage struct {
	ID          string          `json:"Id,omitempty"`
	Signature   string          `json:"Signature,omitempty"`
	Data        json.RawMessage `json:"Data,omitempty"`
	Owner       string          `json:"Owner,omitempty"`
	Target      string          `json:"Target,omitempty"`
	Anchor      string          `json:"Anchor,omitempty"`
	From        string          `json:"From,omitempty"`
	ForwardedBy string          `json:"Forwarded-By,omitempty"`
	Tags        []Tag           `json:"Tags"`
	Epoch       *uint64         `json:"Epoch,omitempty"`
	Nonce       *uint64         `json:"Nonce,omitempty"`
	Timestamp   int64           `json:"Timestamp"`
	BlockHeight uint64          `json:"Block-Height"`
	HashChain   string          `json:"Hash-Chain,omitempty"`
	Cron        bool            `json:"Cron"`
	ReadOnly    bool            `json:"Read-Only"`
}

type aoEnvEntity struct {
	ID    string `json:"Id"`
	Owner string `json:"Owner"`
	Tags  []Tag  `json:"Tags"`
}

type aoEnv struct {
	Process aoEnvEntity `json:"Process"`
	Module  aoEnvEntity `json:"Module"`
}

// marshalJS encodes v like JSON.stringify: no HTML escaping, no trailing newline.
func marshalJS(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// jsText encodes a msg or env object exactly as the reference loader's JSON.stringify does,
// since those bytes reach the module's memory.
func jsText(v any) ([]byte, error) {
	b, err := marshalJS(v)
	if err != nil {
		return nil, err
	}
	return jsjson.Stringify(b)
}

func jsString(s string) json.RawMessage {
	b, _ := marshalJS(s)
	return b
}

// addressFrom derives the address the reference CU uses for an owner: EIP-55 for a 65-byte
// uncompressed secp256k1 key, else base64url(sha256(key)).
func addressFrom(o Owner) string {
	key, err := base64.RawURLEncoding.DecodeString(o.Key)
	if err != nil || len(key) == 0 {
		return o.Address
	}
	if len(key) == 65 && key[0] == 0x04 {
		return ethAddress(key[1:])
	}
	sum := sha256.Sum256(key)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func ethAddress(pub []byte) string {
	h := sha3.NewLegacyKeccak256()
	h.Write(pub)
	addr := hex.EncodeToString(h.Sum(nil)[12:])
	h = sha3.NewLegacyKeccak256()
	h.Write([]byte(addr))
	sum := h.Sum(nil)
	out := []byte(addr)
	for i, c := range out {
		nibble := sum[i/2]
		if i%2 == 0 {
			nibble >>= 4
		}
		if c >= 'a' && nibble&0xf >= 8 {
			out[i] = c - 32
		}
	}
	return "0x" + string(out)
}

// removeInvalidTags drops tags named From and Owner, which a sender could use to impersonate.
func removeInvalidTags(tags []Tag) []Tag {
	out := make([]Tag, 0, len(tags))
	for _, t := range tags {
		if t.Name == "From" || t.Name == "Owner" {
			continue
		}
		out = append(out, t)
	}
	return out
}

// messageFor maps a scheduled slot to the module's msg object (ao-protocol.md §2.4).
func messageFor(s Scheduled) aoMessage {
	m := s.Message
	owner := addressFrom(m.Owner)
	msg := aoMessage{
		ID:          s.MessageID,
		Signature:   m.Signature,
		Owner:       owner,
		Target:      s.Process,
		Anchor:      m.Anchor,
		From:        owner,
		Tags:        removeInvalidTags(m.Tags),
		Epoch:       &s.Epoch,
		Nonce:       &s.Nonce,
		Timestamp:   s.Timestamp,
		BlockHeight: s.BlockHeight,
		HashChain:   s.HashChain,
	}
	if m.Data != nil {
		msg.Data = jsString(*m.Data)
	}
	if fp, ok := tagValue(m.Tags, "From-Process"); ok {
		msg.From = fp
		msg.ForwardedBy = owner
	}
	return msg
}

// verifyHashChain checks the Hash-Chain of s against the previous slot (ao-protocol.md §1.5).
// prevAssignment is "" for the first slot of the process.
func verifyHashChain(pid string, s Scheduled, prevAssignment, prevChain string) bool {
	var sum [32]byte
	if prevAssignment == "" {
		p, err := base64.RawURLEncoding.DecodeString(pid)
		if err != nil {
			return false
		}
		sum = sha256.Sum256(p)
	} else {
		a, err1 := base64.RawURLEncoding.DecodeString(prevAssignment)
		c, err2 := base64.RawURLEncoding.DecodeString(prevChain)
		if err1 != nil || err2 != nil || len(a) != 32 || len(c) != 32 {
			return false
		}
		sum = sha256.Sum256(append(a, c...))
	}
	return s.HashChain == base64.RawURLEncoding.EncodeToString(sum[:])
}

// parseMemoryLimit parses a Memory-Limit tag as the reference does: delete the first '-',
// then read it as a byte size with binary units ("512-mb" = 536870912).
func parseMemoryLimit(v string) (uint64, bool) {
	s := strings.Replace(v, "-", "", 1)
	s = strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   float64
	}{{"pb", 1 << 50}, {"tb", 1 << 40}, {"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"b", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if errors.Is(err, strconv.ErrRange) && math.IsInf(f, 1) {
		return math.MaxUint64, true // a size, too large for anything
	}
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	n := math.Floor(f * mult)
	if n >= math.MaxUint64 {
		return math.MaxUint64, true
	}
	return uint64(n), true
}

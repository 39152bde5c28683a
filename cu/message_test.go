package cu

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

func TestAddressFrom(t *testing.T) {
	g, _ := hex.DecodeString("0479BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798" +
		"483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8")
	// The secp256k1 generator is the public key of private key 1.
	if got := addressFrom(Owner{Address: "x", Key: base64.RawURLEncoding.EncodeToString(g)}); got != "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf" {
		t.Fatalf("Ethereum address %s", got)
	}
	k := []byte("an arweave or ed25519 key")
	sum := sha256.Sum256(k)
	if got := addressFrom(Owner{Key: base64.RawURLEncoding.EncodeToString(k)}); got != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatalf("address %s", got)
	}
	if got := addressFrom(Owner{Address: "given", Key: "!!"}); got != "given" {
		t.Fatalf("undecodable key: %s", got)
	}
}

func TestMessageJSONLikeJavaScript(t *testing.T) {
	data := "a <b> & \u2028 c"
	s := Scheduled{Process: "P", MessageID: "M", Nonce: 2, Timestamp: 5, BlockHeight: 7, HashChain: "H",
		Message: &SourceMessage{ID: "M", Owner: Owner{Address: "A"}, Data: &data,
			Tags: []Tag{{Name: "From", Value: "spoof"}, {Name: "From-Process", Value: "FP"}, {Name: "Owner", Value: "x"}, {Name: "K", Value: "v"}}}}
	b, err := jsText(messageFor(s))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Id":"M","Data":"a <b> & ` + "\u2028" + ` c","Owner":"A","Target":"P","From":"FP","Forwarded-By":"A",` +
		`"Tags":[{"name":"From-Process","value":"FP"},{"name":"K","value":"v"}],"Epoch":0,"Nonce":2,"Timestamp":5,` +
		`"Block-Height":7,"Hash-Chain":"H","Cron":false,"Read-Only":false}`
	if string(b) != want {
		t.Fatalf("msg\n%s\nwant\n%s", b, want)
	}
}

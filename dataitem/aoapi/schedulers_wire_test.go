package aoapi

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aonode/aonode/dataitem"
)

func TestSchedulersOfAndSignerOf(t *testing.T) {
	got := SchedulersOf([]Tag{{Name: "Scheduler", Value: "b, a"}, {Name: "Scheduler", Value: "c"}, {Name: "Module", Value: "m"}})
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("SchedulersOf = %v", got)
	}
	key := make([]byte, 32)
	key[0] = 7
	addr := dataitem.OwnerAddress(key)
	enc := base64.RawURLEncoding.EncodeToString(key)
	for _, c := range []struct {
		o    Owner
		want string
	}{
		{Owner{Address: "claimed", Key: enc}, addr},
		{Owner{Address: "claimed", Key: enc + "="}, addr},
		{Owner{Address: "claimed"}, "claimed"},
		{Owner{Address: "claimed", Key: "!!"}, ""},
	} {
		if got := SignerOf(c.o); got != c.want {
			t.Fatalf("SignerOf(%+v) = %q, want %q", c.o, got, c.want)
		}
	}
}

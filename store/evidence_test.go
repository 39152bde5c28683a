package store

import (
	"context"
	"testing"
)

func TestEvidenceRecords(t *testing.T) {
	db := openMem(t)
	pid := "pppppppppppppppppppppppppppppppppppppppppp1"
	pid2 := "pppppppppppppppppppppppppppppppppppppppppp0"
	b := db.NewBatch()
	b.PutEvidence(pid, 9, [32]byte{1}, []byte("nine"))
	b.PutEvidence(pid, 2, [32]byte{2}, []byte("two"))
	b.PutEvidence(pid2, 5, [32]byte{3}, []byte("other"))
	b.PutEvidence(pid, 2, [32]byte{2}, []byte("two"))
	if err := db.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := db.Evidence(func(v []byte) bool { got = append(got, string(v)); return true }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"other", "two", "nine"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("got %q", got)
	}
	if ok, err := db.HasEvidence(pid, 9, [32]byte{1}); !ok || err != nil {
		t.Fatalf("has: %v %v", ok, err)
	}
	if ok, _ := db.HasEvidence(pid, 9, [32]byte{2}); ok {
		t.Fatal("other pair found")
	}
	b = db.NewBatch()
	b.PutEvidence("", 1, [32]byte{}, []byte("x"))
	if err := db.Commit(context.Background(), b); err == nil {
		t.Fatal("empty process id accepted")
	}
}

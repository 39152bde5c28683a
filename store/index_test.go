package store

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/aonode/aonode/dataitem"
)

func indexSigner(t testing.TB, seed byte) dataitem.Signer {
	t.Helper()
	s := sha256.Sum256([]byte{seed})
	return dataitem.NewEd25519Signer(ed25519.NewKeyFromSeed(s[:]))
}

func indexTestItem(t testing.TB, s dataitem.Signer, target []byte, tags ...string) *dataitem.Item {
	t.Helper()
	var f dataitem.Fields
	for i := 0; i+1 < len(tags); i += 2 {
		f.Tags = append(f.Tags, dataitem.Tag{Name: tags[i], Value: tags[i+1]})
	}
	f.Target = target
	f.Data = []byte(fmt.Sprint(len(tags), string(target)))
	it, err := dataitem.Sign(s, f)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func ids(refs []ItemRef) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.ID
	}
	return out
}

func TestQueryItems(t *testing.T) {
	forEachMode(t, func(t *testing.T, db *DB) {
		alice, bob := indexSigner(t, 1), indexSigner(t, 2)
		pid := make([]byte, 32)
		pid[0] = 7
		items := []*dataitem.Item{
			indexTestItem(t, alice, nil, "Data-Protocol", "ao", "Type", "Process"),                   // 0
			indexTestItem(t, bob, pid, "Data-Protocol", "ao", "Type", "Message", "Action", "Eval"),   // 1
			indexTestItem(t, alice, pid, "Data-Protocol", "ao", "Type", "Message", "Action", "Ping"), // 2
			indexTestItem(t, bob, nil, "Type", "Checkpoint", "Type", "Checkpoint"),                   // 3
		}
		// Order numbers are explicit so the expected order does not depend on the clock.
		b := db.NewBatch()
		for i, it := range items {
			b.Set(KsItems, []byte(it.ID()), it.Raw())
			b.IndexItem(it, uint64(100+i))
		}
		if err := db.Commit(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		id := func(is ...int) []string {
			var out []string
			for _, i := range is {
				out = append(out, items[i].ID())
			}
			return out
		}
		for _, tc := range []struct {
			name string
			q    ItemQuery
			want []string
		}{
			{"all asc", ItemQuery{Limit: 10}, id(0, 1, 2, 3)},
			{"all desc", ItemQuery{Limit: 10, Descending: true}, id(3, 2, 1, 0)},
			{"limit", ItemQuery{Limit: 2, Descending: true}, id(3, 2)},
			{"tag", ItemQuery{Limit: 10, Tags: []TagFilter{{"Type", []string{"Message"}}}}, id(1, 2)},
			{"tag or", ItemQuery{Limit: 10, Tags: []TagFilter{{"Action", []string{"Ping", "Eval"}}}}, id(1, 2)},
			{"tag and", ItemQuery{Limit: 10, Tags: []TagFilter{{"Data-Protocol", []string{"ao"}}, {"Action", []string{"Ping"}}}}, id(2)},
			{"tag name case matters", ItemQuery{Limit: 10, Tags: []TagFilter{{"type", []string{"Message"}}}}, nil},
			{"owner", ItemQuery{Limit: 10, Owners: []string{items[0].Address()}}, id(0, 2)},
			{"owner and tag", ItemQuery{Limit: 10, Owners: []string{items[1].Address()}, Tags: []TagFilter{{"Data-Protocol", []string{"ao"}}}}, id(1)},
			{"recipient", ItemQuery{Limit: 10, Recipients: []string{dataitem.EncodeID(pid)}, Descending: true}, id(2, 1)},
			{"duplicate tag indexed once", ItemQuery{Limit: 10, Tags: []TagFilter{{"Type", []string{"Checkpoint"}}}}, id(3)},
			{"after asc", ItemQuery{Limit: 10, After: &ItemRef{101, items[1].ID()}}, id(2, 3)},
			{"after desc", ItemQuery{Limit: 10, Descending: true, After: &ItemRef{102, items[2].ID()}, Tags: []TagFilter{{"Data-Protocol", []string{"ao"}}}}, id(1, 0)},
			{"empty values", ItemQuery{Limit: 10, Tags: []TagFilter{{"Type", nil}}}, nil},
			{"no match", ItemQuery{Limit: 10, Owners: []string{"nobody"}}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				refs, err := db.QueryItems(tc.q)
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(refs); fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("got %v\nwant %v", got, tc.want)
				}
			})
		}
		if _, err := db.QueryItems(ItemQuery{}); err == nil {
			t.Fatal("a zero limit was accepted")
		}
		if _, err := db.QueryItems(ItemQuery{Limit: 10, MaxScan: 2, Owners: []string{"nobody", "else"}, Tags: []TagFilter{{"Action", []string{"Ping"}}}}); err != nil {
			t.Fatalf("a selective driver must not hit MaxScan: %v", err)
		}
		// Data-Protocol=ao has 3 entries, bob's items 2: the owner filter drives.
		if refs, err := db.QueryItems(ItemQuery{Limit: 10, MaxScan: 2, Owners: []string{items[1].Address()}, Tags: []TagFilter{{"Data-Protocol", []string{"ao"}}}}); err != nil || fmt.Sprint(ids(refs)) != fmt.Sprint(id(1)) {
			t.Fatalf("driver choice: %v %v", ids(refs), err)
		}
		if _, err := db.QueryItems(ItemQuery{Limit: 10, MaxScan: 2, Owners: []string{"nobody"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.QueryItems(ItemQuery{Limit: 10, MaxScan: 2}); !errors.Is(err, ErrQueryTooBroad) {
			t.Fatalf("MaxScan: got %v, want ErrQueryTooBroad", err)
		}
		if o, err := db.ItemOrder(items[2].ID()); err != nil || o != 102 {
			t.Fatalf("ItemOrder = %d, %v", o, err)
		}
		if _, err := db.ItemOrder("missing"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ItemOrder of a missing item: %v", err)
		}
	})
}

func TestPutItemIndexes(t *testing.T) {
	db := openMem(t)
	it := indexTestItem(t, indexSigner(t, 3), nil, "Type", "Module")
	commit(t, db, func(b *Batch) {
		b.PutItem(it.ID(), it.Raw())
		// Bytes that are not an item with this id are stored but not indexed.
		b.PutItem("not-an-item", []byte("junk"))
		b.PutItem(indexTestItem(t, indexSigner(t, 3), nil).ID(), it.Raw())
	})
	refs, err := db.QueryItems(ItemQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(refs); len(got) != 1 || got[0] != it.ID() {
		t.Fatalf("indexed %v, want only %s", got, it.ID())
	}
	// Storing the item again moves it to a newer order; the old entries are skipped as stale.
	first, _ := db.ItemOrder(it.ID())
	b := db.NewBatch()
	b.IndexItem(it, first+1)
	if err := db.Commit(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	refs, err = db.QueryItems(ItemQuery{Limit: 10, Tags: []TagFilter{{"Type", []string{"Module"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].Order != first+1 {
		t.Fatalf("after re-indexing: %+v", refs)
	}
}

// TestDeleteItem removes an item and every key its indexing wrote, and nothing of another
// item's.
func TestDeleteItem(t *testing.T) {
	db := openMem(t)
	s := indexSigner(t, 6)
	target := sha256.Sum256([]byte("target"))
	gone := indexTestItem(t, s, target[:], "Data-Protocol", "ao", "Type", "Scheduler-Location", "Url", "http://a")
	kept := indexTestItem(t, s, nil, "Data-Protocol", "ao", "Type", "Scheduler-Location", "Url", "http://b")
	commit(t, db, func(b *Batch) {
		b.PutItem(gone.ID(), gone.Raw())
		b.PutItem(kept.ID(), kept.Raw())
	})
	keysOf := func() map[string]bool {
		out := map[string]bool{}
		err := db.view(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				out[string(it.Item().KeyCopy(nil))] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := keysOf()
	order, err := db.ItemOrder(gone.ID())
	if err != nil {
		t.Fatal(err)
	}
	commit(t, db, func(b *Batch) { b.DeleteItem(gone, order) })
	after := keysOf()
	// What DeleteItem removed is exactly what storing gone added: its item, its order entry
	// and its tag, owner and recipient entries (Data-Protocol and Type are shared with kept,
	// but their entries name the item, so they are per item too).
	removed := 0
	for k := range before {
		if !after[k] {
			removed++
			if !bytes.Contains([]byte(k), []byte(gone.ID())) {
				t.Fatalf("removed a key that is not gone's: %x", k)
			}
		}
	}
	for k := range after {
		if bytes.Contains([]byte(k), []byte(gone.ID())) {
			t.Fatalf("key of the deleted item left: %x", k)
		}
	}
	// 1 item + 1 items index + 1 order + 3 tags + 1 owner + 1 recipient.
	if removed != 8 {
		t.Fatalf("removed %d keys, want 8", removed)
	}
	if ok, _ := db.HasItem(gone.ID()); ok {
		t.Fatal("the deleted item is still there")
	}
	refs, err := db.QueryItems(ItemQuery{Limit: 10, Owners: []string{gone.Address()}, Tags: []TagFilter{{"Type", []string{"Scheduler-Location"}}}})
	if err != nil || len(refs) != 1 || refs[0].ID != kept.ID() {
		t.Fatalf("after delete: %v %v", ids(refs), err)
	}
}

func BenchmarkQueryItemsByTag(b *testing.B) {
	db := openMem(b)
	s := indexSigner(b, 4)
	batch := db.NewBatch()
	for i := range 2000 {
		it := indexTestItem(b, s, nil, "Data-Protocol", "ao", "N", fmt.Sprint(i%10), "I", fmt.Sprint(i))
		batch.PutItem(it.ID(), it.Raw())
	}
	if err := db.Commit(b.Context(), batch); err != nil {
		b.Fatal(err)
	}
	q := ItemQuery{Limit: 100, Descending: true, Tags: []TagFilter{{"N", []string{"3"}}, {"Data-Protocol", []string{"ao"}}}}
	b.ReportAllocs()
	for b.Loop() {
		refs, err := db.QueryItems(q)
		if err != nil || len(refs) != 100 {
			b.Fatal(len(refs), err)
		}
	}
}

// BenchmarkPutItem measures what indexing adds to storing an item: "indexed" is PutItem (the
// item, its order, 8 tag entries and an owner and recipient entry), "raw" the item alone.
func BenchmarkPutItem(b *testing.B) {
	s := indexSigner(b, 5)
	target := make([]byte, 32)
	it := indexTestItem(b, s, target, "Data-Protocol", "ao", "Variant", "ao.TN.1", "Type", "Message",
		"Action", "Transfer", "Recipient", "x", "Quantity", "1", "SDK", "aoconnect", "Content-Type", "text/plain")
	for _, mode := range []string{"indexed", "raw"} {
		b.Run(mode, func(b *testing.B) {
			db := openMem(b)
			b.ReportAllocs()
			for b.Loop() {
				batch := db.NewBatch()
				if mode == "indexed" {
					batch.PutItem(it.ID(), it.Raw())
				} else {
					batch.Set(KsItems, []byte(it.ID()), it.Raw())
				}
				if err := db.Commit(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestIndexKeysStable pins the index key layout: entries written by earlier versions (which
// hashed through a streaming SHA-256 and formatted keys one by one) must still be found.
func TestIndexKeysStable(t *testing.T) {
	long := string(make([]byte, 3000))
	target := sha256.Sum256([]byte("target"))
	it := indexTestItem(t, indexSigner(t, 3), target[:], "Name", "short", "Long", long, "Name", "short")
	const order = 0x0102030405060708
	b := (&DB{}).NewBatch()
	b.IndexItem(it, order)
	if b.Err() != nil {
		t.Fatal(b.Err())
	}
	hash := func(parts ...[]byte) string {
		h := sha256.New()
		for _, p := range parts {
			h.Write(p)
		}
		return string(h.Sum(nil)[:indexHashBytes])
	}
	suffix := "\x01\x02\x03\x04\x05\x06\x07\x08" + it.ID()
	want := map[string]string{
		"\xe0" + it.ID(): suffix[:8],
		"\xe1" + suffix:  "",
		"\xe2" + hash([]byte{4}, []byte("Name"), []byte("short")) + suffix: "",
		"\xe2" + hash([]byte{4}, []byte("Long"), []byte(long)) + suffix:    "",
		"\xe3" + hash([]byte(it.Address())) + suffix:                       "",
		"\xe4" + hash([]byte(dataitem.EncodeID(target[:]))) + suffix:       "",
	}
	if len(b.ops) != len(want) {
		t.Fatalf("%d index writes, want %d (a repeated tag is indexed once)", len(b.ops), len(want))
	}
	for _, o := range b.ops {
		v, ok := want[string(o.key)]
		if !ok || v != string(o.value) || o.delete {
			t.Fatalf("unexpected index write %x = %x", o.key, o.value)
		}
	}
}

package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/store"
)

// GraphQL limits.
const (
	// MaxFirst is the largest page a transactions query returns; the default is 10, as on
	// Arweave gateways.
	MaxFirst     = 100
	defaultFirst = 10
	// maxListValues bounds ids, owners, recipients, tag filters and tag values in one query.
	maxListValues = 1000
	// maxFieldsResolved bounds the work of one request (fields across all returned nodes).
	maxFieldsResolved = 50_000
)

// queryError is a request the client got wrong: HTTP 400 with the message.
type queryError struct{ msg string }

func (e *queryError) Error() string { return e.msg }

func qerrf(format string, args ...any) error { return &queryError{msg: fmt.Sprintf(format, args...)} }

// enumValue is an enum literal, told apart from strings so that sort: "HEIGHT_DESC" written
// as a string literal is rejected as GraphQL servers do, while a variable may carry either.
type enumValue string

// object is a JSON object whose keys keep the order of the selection.
type object struct {
	keys []string
	vals []any
}

func (o *object) set(k string, v any) {
	for _, have := range o.keys {
		if have == k {
			return // a repeated response key: the first selection wins
		}
	}
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// gqlRequest is the JSON body of POST /graphql.
type gqlRequest struct {
	Query         string          `json:"query"`
	OperationName string          `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
}

// executor runs one operation against the gateway's store.
type executor struct {
	src      ItemStore
	missing  func(id string) (*dataitem.Item, error) // looks an id up at peers; nil: none
	fetched  int                                     // ids looked up at peers so far
	doc      *document
	vars     map[string]any
	declared map[string]bool
	resolved int
}

// execute parses and runs a request and returns the value of "data". missing, when not nil,
// finds ids the store does not hold (at most maxPeerFetchesPerPost per request).
func execute(src ItemStore, req gqlRequest, missing func(id string) (*dataitem.Item, error)) (*object, error) {
	doc, err := parseDocument(req.Query)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return nil, &queryError{msg: se.Error()}
		}
		return nil, err
	}
	var op *operation
	switch {
	case req.OperationName != "":
		for _, o := range doc.ops {
			if o.name == req.OperationName {
				op = o
			}
		}
		if op == nil {
			return nil, qerrf("Unknown operation named %q.", req.OperationName)
		}
	case len(doc.ops) == 1:
		op = doc.ops[0]
	default:
		return nil, qerrf("Must provide operation name if query contains multiple operations.")
	}
	if op.kind != "query" {
		return nil, qerrf("This gateway answers queries only, not %ss.", op.kind)
	}
	given := map[string]any{}
	if len(req.Variables) > 0 && !bytes.Equal(bytes.TrimSpace(req.Variables), []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(req.Variables))
		dec.UseNumber()
		if err := dec.Decode(&given); err != nil {
			return nil, qerrf("Variables must be a JSON object: %v", err)
		}
	}
	e := &executor{src: src, missing: missing, doc: doc, vars: map[string]any{}, declared: map[string]bool{}}
	for _, v := range op.vars {
		e.declared[v.name] = true
	}
	for _, v := range op.vars {
		switch val, ok := given[v.name]; {
		case ok:
			e.vars[v.name] = val
		case v.def != nil:
			d, err := e.resolve(*v.def)
			if err != nil {
				return nil, err
			}
			e.vars[v.name] = d
		}
	}
	if err := e.validate(op.sel, "Query", 1); err != nil {
		return nil, err
	}
	e.resolved = 0
	return e.query(op.sel)
}

// collect flattens sel for an object of type typ: fragments are expanded and @skip/@include
// applied.
func (e *executor) collect(sel []selection, typ string, depth int) ([]selection, error) {
	if depth > maxDepth {
		return nil, qerrf("fragments nested deeper than %d (a cycle?)", maxDepth)
	}
	var out []selection
	for _, s := range sel {
		// Counting here bounds fragment expansion, which could otherwise grow exponentially.
		if err := e.tick(); err != nil {
			return nil, err
		}
		include, err := e.included(s.dirs)
		if err != nil {
			return nil, err
		}
		if !include {
			continue
		}
		switch s.kind {
		case selField:
			out = append(out, s)
		case selInline:
			if s.typ != "" && s.typ != typ {
				continue
			}
			sub, err := e.collect(s.sel, typ, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		case selSpread:
			f, ok := e.doc.fragments[s.name]
			if !ok {
				return nil, qerrf("Unknown fragment %q.", s.name)
			}
			if f.typ != typ {
				continue
			}
			sub, err := e.collect(f.sel, typ, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

func (e *executor) included(dirs []directive) (bool, error) {
	for _, d := range dirs {
		if d.name != "skip" && d.name != "include" {
			return false, qerrf("Unknown directive \"@%s\".", d.name)
		}
		if len(d.args) != 1 || d.args[0].name != "if" {
			return false, qerrf("Directive \"@%s\" takes exactly one argument \"if\".", d.name)
		}
		v, err := e.resolve(d.args[0].val)
		if err != nil {
			return false, err
		}
		b, ok := v.(bool)
		if !ok {
			return false, qerrf("Directive \"@%s\" argument \"if\" must be a Boolean.", d.name)
		}
		if (d.name == "skip") == b {
			return false, nil
		}
	}
	return true, nil
}

// resolve turns a literal into the Go value a JSON variable would have.
func (e *executor) resolve(v value) (any, error) {
	switch v.kind {
	case vNull:
		return nil, nil
	case vInt, vFloat:
		return json.Number(v.text), nil
	case vString:
		return v.text, nil
	case vBool:
		return v.b, nil
	case vEnum:
		return enumValue(v.text), nil
	case vVar:
		if !e.declared[v.text] {
			return nil, qerrf("Variable \"$%s\" is not defined.", v.text)
		}
		return e.vars[v.text], nil
	case vList:
		out := make([]any, len(v.list))
		for i, x := range v.list {
			r, err := e.resolve(x)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case vObject:
		out := make(map[string]any, len(v.fields))
		for _, f := range v.fields {
			r, err := e.resolve(f.val)
			if err != nil {
				return nil, err
			}
			out[f.name] = r
		}
		return out, nil
	}
	return nil, qerrf("unsupported value")
}

func (e *executor) args(s selection, allowed ...string) (map[string]any, error) {
	out := map[string]any{}
	for _, a := range s.args {
		ok := false
		for _, name := range allowed {
			ok = ok || name == a.name
		}
		if !ok {
			return nil, qerrf("Unknown argument %q on field %q.", a.name, s.name)
		}
		v, err := e.resolve(a.val)
		if err != nil {
			return nil, err
		}
		out[a.name] = v
	}
	return out, nil
}

func (e *executor) tick() error {
	if e.resolved++; e.resolved > maxFieldsResolved {
		return qerrf("query resolves more than %d fields", maxFieldsResolved)
	}
	return nil
}

func leaf(s selection, typ string) error {
	if len(s.sel) > 0 {
		return qerrf("Field %q of type %q must not have a selection.", s.name, typ)
	}
	return nil
}

func needsSel(s selection, typ string) error {
	if len(s.sel) == 0 {
		return qerrf("Field %q of type %q must have a selection of subfields.", s.name, typ)
	}
	return nil
}

func unknownField(s selection, typ string) error {
	return qerrf("Cannot query field %q on type %q.", s.name, typ)
}

func (e *executor) query(sel []selection) (*object, error) {
	fields, err := e.collect(sel, "Query", 1)
	if err != nil {
		return nil, err
	}
	out := &object{}
	for _, s := range fields {
		if err := e.tick(); err != nil {
			return nil, err
		}
		switch s.name {
		case "__typename":
			if err := leaf(s, "String"); err != nil {
				return nil, err
			}
			out.set(s.alias, "Query")
		case "transactions":
			if err := needsSel(s, "TransactionConnection"); err != nil {
				return nil, err
			}
			v, err := e.transactions(s)
			if err != nil {
				return nil, err
			}
			out.set(s.alias, v)
		case "transaction":
			if err := needsSel(s, "Transaction"); err != nil {
				return nil, err
			}
			v, err := e.transaction(s)
			if err != nil {
				return nil, err
			}
			out.set(s.alias, v)
		case "blocks":
			if err := needsSel(s, "BlockConnection"); err != nil {
				return nil, err
			}
			v, err := e.blocks(s)
			if err != nil {
				return nil, err
			}
			out.set(s.alias, v)
		case "block":
			if err := needsSel(s, "Block"); err != nil {
				return nil, err
			}
			if _, err := e.args(s, "id"); err != nil {
				return nil, err
			}
			// The node holds data items, not Arweave blocks.
			out.set(s.alias, nil)
		default:
			return nil, unknownField(s, "Query")
		}
	}
	return out, nil
}

// Argument coercion.

func stringList(v any, arg string) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{x}, nil
	case []any:
		if len(x) > maxListValues {
			return nil, qerrf("Argument %q has more than %d values.", arg, maxListValues)
		}
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, qerrf("Argument %q must be a list of strings.", arg)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, qerrf("Argument %q must be a list of strings.", arg)
}

func intArg(v any, arg string) (int, bool, error) {
	switch x := v.(type) {
	case nil:
		return 0, false, nil
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 32)
		if err != nil {
			return 0, false, qerrf("Argument %q must be a 32-bit integer.", arg)
		}
		return int(n), true, nil
	}
	return 0, false, qerrf("Argument %q must be an integer.", arg)
}

func enumArg(v any, arg string) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case enumValue:
		return string(x), nil
	case string: // from a variable
		return x, nil
	}
	return "", qerrf("Argument %q must be an enum value.", arg)
}

func tagFilters(v any) ([]store.TagFilter, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		if m, isObj := v.(map[string]any); isObj {
			list = []any{m}
		} else {
			return nil, qerrf("Argument \"tags\" must be a list of {name, values}.")
		}
	}
	if len(list) > maxListValues {
		return nil, qerrf("Argument \"tags\" has more than %d filters.", maxListValues)
	}
	var out []store.TagFilter
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, qerrf("Argument \"tags\" must be a list of {name, values}.")
		}
		var f store.TagFilter
		for k, val := range m {
			switch k {
			case "name":
				s, ok := val.(string)
				if !ok {
					return nil, qerrf("Tag filter \"name\" must be a string.")
				}
				f.Name = s
			case "values":
				vs, err := stringList(val, "values")
				if err != nil {
					return nil, err
				}
				f.Values = vs
			case "op":
				if s, err := enumArg(val, "op"); err != nil || (s != "" && s != "EQ") {
					return nil, qerrf("Tag filter \"op\": only EQ is supported.")
				}
			case "match":
				if s, err := enumArg(val, "match"); err != nil || (s != "" && s != "EXACT") {
					return nil, qerrf("Tag filter \"match\": only EXACT is supported.")
				}
			default:
				return nil, qerrf("Unknown tag filter field %q.", k)
			}
		}
		if _, ok := m["name"]; !ok {
			return nil, qerrf("Tag filter requires \"name\".")
		}
		if _, ok := m["values"]; !ok {
			return nil, qerrf("Tag filter requires \"values\".")
		}
		out = append(out, f)
	}
	return out, nil
}

// Cursors are base64url of the 8-byte order number followed by the id.

func encodeCursor(r store.ItemRef) string {
	b := binary.BigEndian.AppendUint64(nil, r.Order)
	return base64.RawURLEncoding.EncodeToString(append(b, r.ID...))
}

func decodeCursor(s string) (store.ItemRef, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) <= 8 || len(b) > 8+store.MaxIDBytes {
		return store.ItemRef{}, qerrf("Invalid cursor %q.", s)
	}
	return store.ItemRef{Order: binary.BigEndian.Uint64(b), ID: string(b[8:])}, nil
}

// txNode is one transaction of a page. Items are loaded only while their node is resolved,
// so a page of large items (modules) never sits in memory at once.
type txNode struct {
	ref store.ItemRef
}

func (e *executor) transactions(s selection) (*object, error) {
	a, err := e.args(s, "ids", "owners", "recipients", "tags", "first", "after", "sort")
	if err != nil {
		return nil, err
	}
	q := store.ItemQuery{Descending: true}
	ids, err := stringList(a["ids"], "ids")
	if err != nil {
		return nil, err
	}
	if q.Owners, err = stringList(a["owners"], "owners"); err != nil {
		return nil, err
	}
	if q.Recipients, err = stringList(a["recipients"], "recipients"); err != nil {
		return nil, err
	}
	if q.Tags, err = tagFilters(a["tags"]); err != nil {
		return nil, err
	}
	first, given, err := intArg(a["first"], "first")
	if err != nil {
		return nil, err
	}
	switch {
	case !given:
		first = defaultFirst
	case first < 0:
		return nil, qerrf("Argument \"first\" must not be negative.")
	case first > MaxFirst:
		return nil, qerrf("Argument \"first\" must be at most %d.", MaxFirst)
	}
	switch srt, err := enumArg(a["sort"], "sort"); {
	case err != nil:
		return nil, err
	case srt == "" || srt == "HEIGHT_DESC" || srt == "INGESTED_AT_DESC":
	case srt == "HEIGHT_ASC" || srt == "INGESTED_AT_ASC":
		q.Descending = false
	default:
		return nil, qerrf("Argument \"sort\" has an unknown value %q.", srt)
	}
	if a["after"] != nil {
		c, ok := a["after"].(string)
		if !ok {
			return nil, qerrf("Argument \"after\" must be a string.")
		}
		if c != "" {
			ref, err := decodeCursor(c)
			if err != nil {
				return nil, err
			}
			q.After = &ref
		}
	}
	var nodes []txNode
	hasNext := false
	if first > 0 {
		q.Limit = first + 1
		if a["ids"] != nil {
			nodes, err = e.byIDs(ids, q)
		} else {
			nodes, err = e.byIndex(q)
		}
		if err != nil {
			return nil, err
		}
		if len(nodes) > first {
			nodes, hasNext = nodes[:first], true
		}
	}
	return e.connection(s, nodes, hasNext)
}

// byIDs answers a query that names its ids: every held item among them that passes the
// other filters, in the query's order.
func (e *executor) byIDs(ids []string, q store.ItemQuery) ([]txNode, error) {
	seen := map[string]bool{}
	var nodes []txNode
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if _, err := dataitem.DecodeID(id); err != nil {
			continue
		}
		it, err := loadItem(e.src, id)
		if errors.Is(err, store.ErrNotFound) && e.missing != nil && e.fetched < maxPeerFetchesPerPost {
			e.fetched++
			it, err = e.missing(id)
		}
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ref := store.ItemRef{ID: id}
		switch o, err := e.src.ItemOrder(id); {
		case err == nil:
			ref.Order = o
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		if q.After != nil && !after(ref, *q.After, q.Descending) {
			continue
		}
		if itemMatches(it, q) {
			nodes = append(nodes, txNode{ref: ref})
		}
	}
	sort.Slice(nodes, func(i, j int) bool {
		if q.Descending {
			return refLess(nodes[j].ref, nodes[i].ref)
		}
		return refLess(nodes[i].ref, nodes[j].ref)
	})
	if len(nodes) > q.Limit {
		nodes = nodes[:q.Limit]
	}
	return nodes, nil
}

func refLess(a, b store.ItemRef) bool {
	if a.Order != b.Order {
		return a.Order < b.Order
	}
	return a.ID < b.ID
}

func after(r, cursor store.ItemRef, desc bool) bool {
	if desc {
		return refLess(r, cursor)
	}
	return refLess(cursor, r)
}

func itemMatches(it *dataitem.Item, q store.ItemQuery) bool {
	for _, f := range q.Tags {
		ok := false
		for _, t := range it.Tags {
			for _, v := range f.Values {
				ok = ok || (t.Name == f.Name && t.Value == v)
			}
		}
		if !ok {
			return false
		}
	}
	if len(q.Owners) > 0 {
		ok := false
		for _, o := range q.Owners {
			ok = ok || o == it.Address() || (o != "" && o == it.EthAddress())
		}
		if !ok {
			return false
		}
	}
	if len(q.Recipients) > 0 {
		ok := false
		for _, r := range q.Recipients {
			ok = ok || (it.Target != nil && r == dataitem.EncodeID(it.Target))
		}
		if !ok {
			return false
		}
	}
	return true
}

func (e *executor) byIndex(q store.ItemQuery) ([]txNode, error) {
	refs, err := e.src.QueryItems(q)
	if errors.Is(err, store.ErrQueryTooBroad) {
		return nil, qerrf("Query too broad: add a more selective filter (%v).", err)
	}
	if err != nil {
		return nil, err
	}
	nodes := make([]txNode, 0, len(refs))
	for _, r := range refs {
		// IndexItem can index an item whose bytes are stored elsewhere or not at all.
		has, err := e.src.HasItem(r.ID)
		if err != nil {
			return nil, err
		}
		if has {
			nodes = append(nodes, txNode{ref: r})
		}
	}
	return nodes, nil
}

func (e *executor) transaction(s selection) (any, error) {
	a, err := e.args(s, "id")
	if err != nil {
		return nil, err
	}
	id, ok := a["id"].(string)
	if !ok {
		return nil, qerrf("Field \"transaction\" requires a string argument \"id\".")
	}
	nodes, err := e.byIDs([]string{id}, store.ItemQuery{Limit: 1})
	if err != nil || len(nodes) == 0 {
		return nil, err
	}
	return e.tx(s.sel, nodes[0])
}

func (e *executor) connection(s selection, nodes []txNode, hasNext bool) (*object, error) {
	fields, err := e.collect(s.sel, "TransactionConnection", 1)
	if err != nil {
		return nil, err
	}
	out := &object{}
	for _, f := range fields {
		if err := e.tick(); err != nil {
			return nil, err
		}
		switch f.name {
		case "__typename":
			out.set(f.alias, "TransactionConnection")
		case "pageInfo":
			if err := needsSel(f, "PageInfo"); err != nil {
				return nil, err
			}
			pi, err := e.pageInfo(f, hasNext)
			if err != nil {
				return nil, err
			}
			out.set(f.alias, pi)
		case "edges":
			if err := needsSel(f, "TransactionEdge"); err != nil {
				return nil, err
			}
			edges := make([]any, 0, len(nodes))
			for _, n := range nodes {
				ed, err := e.edge(f, n)
				if err != nil {
					return nil, err
				}
				edges = append(edges, ed)
			}
			out.set(f.alias, edges)
		default:
			return nil, unknownField(f, "TransactionConnection")
		}
	}
	return out, nil
}

func (e *executor) pageInfo(s selection, hasNext bool) (*object, error) {
	fields, err := e.collect(s.sel, "PageInfo", 1)
	if err != nil {
		return nil, err
	}
	out := &object{}
	for _, f := range fields {
		switch f.name {
		case "__typename":
			out.set(f.alias, "PageInfo")
		case "hasNextPage":
			if err := leaf(f, "Boolean"); err != nil {
				return nil, err
			}
			out.set(f.alias, hasNext)
		default:
			return nil, unknownField(f, "PageInfo")
		}
	}
	return out, nil
}

func (e *executor) edge(s selection, n txNode) (*object, error) {
	fields, err := e.collect(s.sel, "TransactionEdge", 1)
	if err != nil {
		return nil, err
	}
	out := &object{}
	for _, f := range fields {
		if err := e.tick(); err != nil {
			return nil, err
		}
		switch f.name {
		case "__typename":
			out.set(f.alias, "TransactionEdge")
		case "cursor":
			if err := leaf(f, "String"); err != nil {
				return nil, err
			}
			out.set(f.alias, encodeCursor(n.ref))
		case "node":
			if err := needsSel(f, "Transaction"); err != nil {
				return nil, err
			}
			v, err := e.tx(f.sel, n)
			if err != nil {
				return nil, err
			}
			out.set(f.alias, v)
		default:
			return nil, unknownField(f, "TransactionEdge")
		}
	}
	return out, nil
}

// tx resolves a Transaction. fee and quantity are zero (data items carry no transfer), and
// bundledIn is null (items reach the node one by one, not inside a bundle).
func (e *executor) tx(sel []selection, n txNode) (*object, error) {
	fields, err := e.collect(sel, "Transaction", 1)
	if err != nil {
		return nil, err
	}
	it, err := loadItem(e.src, n.ref.ID)
	if err != nil {
		return nil, err
	}
	out := &object{}
	for _, f := range fields {
		if err := e.tick(); err != nil {
			return nil, err
		}
		var v any
		switch f.name {
		case "__typename":
			v = "Transaction"
		case "id":
			v = it.ID()
		case "anchor":
			v = dataitem.EncodeID(it.Anchor)
		case "signature":
			v = dataitem.EncodeID(it.Signature)
		case "recipient":
			v = dataitem.EncodeID(it.Target)
		case "ingested_at":
			v = int64(n.ref.Order / 1e9)
		case "owner":
			v, err = e.leaves(f, "Owner", map[string]any{"address": it.Address(), "key": dataitem.EncodeID(it.Owner)})
		case "fee", "quantity":
			v, err = e.leaves(f, "Amount", map[string]any{"winston": "0", "ar": "0.000000000000"})
		case "data":
			var typ any
			if ct, ok := it.Tag("Content-Type"); ok {
				typ = ct
			}
			v, err = e.leaves(f, "MetaData", map[string]any{"size": strconv.Itoa(len(it.Data)), "type": typ})
		case "tags":
			list := make([]any, 0, len(it.Tags))
			for _, t := range it.Tags {
				o, err := e.leaves(f, "Tag", map[string]any{"name": t.Name, "value": t.Value})
				if err != nil {
					return nil, err
				}
				list = append(list, o)
			}
			v = list
		case "block":
			v, err = e.block(f, it)
		case "bundledIn", "parent":
			if err := needsSel(f, "Bundle"); err != nil {
				return nil, err
			}
			if _, err := e.collect(f.sel, "Bundle", 1); err != nil {
				return nil, err
			}
			v = nil
		default:
			return nil, unknownField(f, "Transaction")
		}
		if err != nil {
			return nil, err
		}
		if f.name != "owner" && f.name != "fee" && f.name != "quantity" && f.name != "data" &&
			f.name != "tags" && f.name != "block" && f.name != "bundledIn" && f.name != "parent" {
			if err := leaf(f, "String"); err != nil {
				return nil, err
			}
		}
		out.set(f.alias, v)
	}
	return out, nil
}

// leaves resolves an object type whose fields are all scalars.
func (e *executor) leaves(s selection, typ string, vals map[string]any) (*object, error) {
	if err := needsSel(s, typ); err != nil {
		return nil, err
	}
	fields, err := e.collect(s.sel, typ, 1)
	if err != nil {
		return nil, err
	}
	out := &object{}
	for _, f := range fields {
		if err := e.tick(); err != nil {
			return nil, err
		}
		if f.name == "__typename" {
			out.set(f.alias, typ)
			continue
		}
		v, ok := vals[f.name]
		if !ok {
			return nil, unknownField(f, typ)
		}
		if err := leaf(f, typ+"."+f.name); err != nil {
			return nil, err
		}
		out.set(f.alias, v)
	}
	return out, nil
}

// block is the block of an item, which has none on Arweave. When this node's scheduler
// assigned the item (a message to its target process, or a process itself at nonce 0), the
// assignment stands in for it: height = the assignment's Block-Height, timestamp = its
// Timestamp in seconds, id = the assignment id, previous = "". Otherwise null.
func (e *executor) block(s selection, it *dataitem.Item) (any, error) {
	if err := needsSel(s, "Block"); err != nil {
		return nil, err
	}
	pid := it.ID()
	if it.Target != nil {
		pid = dataitem.EncodeID(it.Target)
	}
	slot, err := e.src.SlotByMessage(pid, it.ID())
	if errors.Is(err, store.ErrNotFound) {
		_, err := e.collect(s.sel, "Block", 1)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	return e.leaves(s, "Block", map[string]any{
		"id":        slot.AssignmentID,
		"height":    slot.BlockHeight,
		"timestamp": slot.Timestamp / 1000,
		"previous":  "",
	})
}

// blocks answers with an empty connection: the node holds data items, not Arweave blocks.
func (e *executor) blocks(s selection) (*object, error) {
	if _, err := e.args(s, "ids", "height", "first", "after", "sort"); err != nil {
		return nil, err
	}
	fields, err := e.collect(s.sel, "BlockConnection", 1)
	if err != nil {
		return nil, err
	}
	out := &object{}
	for _, f := range fields {
		switch f.name {
		case "__typename":
			out.set(f.alias, "BlockConnection")
		case "pageInfo":
			if err := needsSel(f, "PageInfo"); err != nil {
				return nil, err
			}
			pi, err := e.pageInfo(f, false)
			if err != nil {
				return nil, err
			}
			out.set(f.alias, pi)
		case "edges":
			if err := needsSel(f, "BlockEdge"); err != nil {
				return nil, err
			}
			out.set(f.alias, []any{})
		default:
			return nil, unknownField(f, "BlockConnection")
		}
	}
	return out, nil
}

// schema lists, per object type, its fields and their types ("" for scalars). validate checks
// a whole operation against it before anything runs, so that a wrong field is an error even
// when no item would reach it.
var schema = map[string]map[string]string{
	"Query":                 {"transactions": "TransactionConnection", "transaction": "Transaction", "blocks": "BlockConnection", "block": "Block"},
	"TransactionConnection": {"pageInfo": "PageInfo", "edges": "TransactionEdge"},
	"PageInfo":              {"hasNextPage": ""},
	"TransactionEdge":       {"cursor": "", "node": "Transaction"},
	"Transaction": {"id": "", "anchor": "", "signature": "", "recipient": "", "ingested_at": "",
		"owner": "Owner", "fee": "Amount", "quantity": "Amount", "data": "MetaData", "tags": "Tag",
		"block": "Block", "bundledIn": "Bundle", "parent": "Bundle"},
	"Owner":           {"address": "", "key": ""},
	"Amount":          {"winston": "", "ar": ""},
	"MetaData":        {"size": "", "type": ""},
	"Tag":             {"name": "", "value": ""},
	"Block":           {"id": "", "height": "", "timestamp": "", "previous": ""},
	"Bundle":          {"id": ""},
	"BlockConnection": {"pageInfo": "PageInfo", "edges": "BlockEdge"},
	"BlockEdge":       {"cursor": "", "node": "Block"},
}

func (e *executor) validate(sel []selection, typ string, depth int) error {
	if depth > maxDepth {
		return qerrf("selections nested deeper than %d", maxDepth)
	}
	fields, err := e.collect(sel, typ, 1)
	if err != nil {
		return err
	}
	for _, f := range fields {
		if err := e.tick(); err != nil {
			return err
		}
		if f.name == "__typename" {
			if err := leaf(f, "String"); err != nil {
				return err
			}
			continue
		}
		child, ok := schema[typ][f.name]
		if !ok {
			return unknownField(f, typ)
		}
		if child == "" {
			if err := leaf(f, typ+"."+f.name); err != nil {
				return err
			}
			continue
		}
		if err := needsSel(f, child); err != nil {
			return err
		}
		if err := e.validate(f.sel, child, depth+1); err != nil {
			return err
		}
	}
	return nil
}

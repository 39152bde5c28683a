package cu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/aonode/aonode/dataitem"
	"github.com/aonode/aonode/node/httplimit"
	"github.com/aonode/aonode/store"
)

// ItemLookup finds raw ANS-104 items held locally; *store.DB satisfies it.
type ItemLookup interface {
	Item(id string) ([]byte, error)
}

// Gateway is the client of an Arweave-style gateway: GraphQL transaction metadata and /raw.
type Gateway struct {
	base     string
	graphql  string
	http     *http.Client
	maxBytes int64
}

// NewGateway returns a client for the gateway at base; GraphQL is {base}/graphql.
func NewGateway(base string, client *http.Client, maxRawBytes int64) (*Gateway, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cu: gateway url %q must be an absolute http(s) URL", base)
	}
	if client == nil {
		client = http.DefaultClient
	}
	if maxRawBytes <= 0 {
		maxRawBytes = 256 << 20
	}
	b := strings.TrimRight(base, "/")
	return &Gateway{base: b, graphql: b + "/graphql", http: client, maxBytes: maxRawBytes}, nil
}

// TxMeta is what the gateway's GraphQL says about a transaction or data item.
type TxMeta struct {
	ID        string  `json:"id"`
	Signature string  `json:"signature"`
	Anchor    *string `json:"anchor"`
	Owner     Owner   `json:"owner"`
	Tags      []Tag   `json:"tags"`
	Recipient string  `json:"recipient"`
}

const txQuery = `query GetTransactions($ids: [ID!]!) { transactions(ids: $ids) { edges { node { id signature anchor owner { address key } tags { name value } recipient } } } }`

// graphQL posts a query and decodes the data into out (a struct with a Data field).
func (g *Gateway) graphQL(ctx context.Context, query string, vars map[string]any, out any) error {
	req := map[string]any{"query": query}
	if vars != nil {
		req["variables"] = vars
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, g.graphql, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	raw, err := g.do(hreq, 16<<20)
	if err != nil {
		return err
	}
	var e struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return errorf(ErrGatewayUnavailable, "gateway GraphQL: malformed response: %v", err)
	}
	if len(e.Errors) > 0 {
		return errorf(ErrGatewayUnavailable, "gateway GraphQL: %s", e.Errors[0].Message)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return errorf(ErrGatewayUnavailable, "gateway GraphQL: malformed response: %v", err)
	}
	return nil
}

// Tx returns the metadata of id, or an error wrapping ErrNotFound.
func (g *Gateway) Tx(ctx context.Context, id string) (TxMeta, error) {
	var out struct {
		Data struct {
			Transactions struct {
				Edges []struct {
					Node TxMeta `json:"node"`
				} `json:"edges"`
			} `json:"transactions"`
		} `json:"data"`
	}
	if err := g.graphQL(ctx, txQuery, map[string]any{"ids": []string{id}}, &out); err != nil {
		return TxMeta{}, err
	}
	for _, e := range out.Data.Transactions.Edges {
		if e.Node.ID == id {
			return e.Node, nil
		}
	}
	return TxMeta{}, errorf(ErrNotFound, "transaction %s not found on gateway", id)
}

// Raw returns the data of id (GET {base}/raw/{id}).
func (g *Gateway) Raw(ctx context.Context, id string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/raw/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	return g.do(req, g.maxBytes)
}

func (g *Gateway) do(req *http.Request, limit int64) ([]byte, error) {
	resp, err := g.http.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return nil, req.Context().Err()
		}
		return nil, errorf(ErrGatewayUnavailable, "gateway %s: %v", g.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, errorf(ErrNotFound, "%s not found on gateway", req.URL.Path)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errorf(ErrGatewayUnavailable, "gateway %s: status %d for %s", g.base, resp.StatusCode, req.URL.Path)
	}
	b, err := httplimit.ReadAll(resp.Body, limit)
	var tooLarge *httplimit.TooLargeError
	if errors.As(err, &tooLarge) {
		return nil, errorf(ErrLimitExceeded, "%s is larger than %d bytes", req.URL.Path, limit)
	}
	if err != nil {
		return nil, errorf(ErrGatewayUnavailable, "gateway %s: %v", g.base, err)
	}
	return b, nil
}

// moduleDef is a module's metadata and binary.
type moduleDef struct {
	ID    string `json:"id"`
	Owner Owner  `json:"owner"`
	Tags  []Tag  `json:"tags"`
	Wasm  []byte `json:"-"`
	// WasmSHA256 lets a cached definition be told from a partly written one.
	WasmSHA256 []byte `json:"wasmSha256"`
}

// encodeModuleDef lays out a definition for the store cache: header length, JSON header, wasm.
func encodeModuleDef(d moduleDef) ([]byte, error) {
	sum := sha256.Sum256(d.Wasm)
	d.WasmSHA256 = sum[:]
	h, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(h)+len(d.Wasm)), uint32(len(h)))
	out = append(out, h...)
	return append(out, d.Wasm...), nil
}

func decodeModuleDef(b []byte) (moduleDef, error) {
	if len(b) < 4 {
		return moduleDef{}, errors.New("cu: short module cache entry")
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return moduleDef{}, errors.New("cu: corrupt module cache entry")
	}
	var d moduleDef
	if err := json.Unmarshal(b[4:4+n], &d); err != nil {
		return moduleDef{}, fmt.Errorf("cu: corrupt module cache entry: %w", err)
	}
	d.Wasm = b[4+n:]
	if sum := sha256.Sum256(d.Wasm); !bytes.Equal(sum[:], d.WasmSHA256) {
		return moduleDef{}, errors.New("cu: incomplete module cache entry")
	}
	return d, nil
}

// loadModule finds a module: the CU's cache in the store, then the node's items, then the
// gateway (whose answer is cached).
func (c *CU) loadModule(ctx context.Context, id string) (moduleDef, error) {
	if b, err := c.db.CUModule(id); err == nil {
		if d, err := decodeModuleDef(b); err == nil {
			return d, nil
		}
		c.log.Warn("ignoring corrupt module cache entry", "module", id)
	} else if !errors.Is(err, store.ErrNotFound) {
		return moduleDef{}, fmt.Errorf("cu: module cache: %w", err)
	}
	d, err := c.fetchModule(ctx, id)
	if err != nil {
		return moduleDef{}, err
	}
	if err := c.cacheModule(ctx, d); err != nil {
		// Not fatal: the module is here, only the next load will fetch it again.
		c.log.Warn("caching module", "module", id, "err", err)
	}
	return d, nil
}

// cacheModule writes a definition to the store, a chunk per batch (each fits one write);
// a partial write is detected by the hash in the header.
func (c *CU) cacheModule(ctx context.Context, d moduleDef) error {
	enc, err := encodeModuleDef(d)
	if err != nil {
		return err
	}
	for i, ch := range store.CUChunks(enc) {
		b := c.db.NewBatch()
		if err := b.PutCUModuleChunk(d.ID, uint32(i), ch); err != nil {
			return err
		}
		if err := c.db.Commit(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

func (c *CU) fetchModule(ctx context.Context, id string) (moduleDef, error) {
	if c.items != nil {
		raw, err := c.items.Item(id)
		switch {
		case err == nil:
			it, err := dataitem.Parse(raw)
			if err != nil {
				return moduleDef{}, errorf(ErrInvalidDefinition, "module %s: %v", id, err)
			}
			tags := make([]Tag, len(it.Tags))
			for i, t := range it.Tags {
				tags[i] = Tag{Name: t.Name, Value: t.Value}
			}
			return moduleDef{
				ID:    id,
				Owner: Owner{Address: it.Address(), Key: dataitem.EncodeID(it.Owner)},
				Tags:  tags,
				Wasm:  bytes.Clone(it.Data),
			}, nil
		case !errors.Is(err, store.ErrNotFound):
			return moduleDef{}, fmt.Errorf("cu: local item %s: %w", id, err)
		}
	}
	if c.gateway == nil {
		return moduleDef{}, errorf(ErrNotFound, "module %s not found", id)
	}
	meta, err := c.gateway.Tx(ctx, id)
	if err != nil {
		return moduleDef{}, err
	}
	wasm, err := c.gateway.Raw(ctx, id)
	if err != nil {
		return moduleDef{}, err
	}
	return moduleDef{ID: id, Owner: meta.Owner, Tags: meta.Tags, Wasm: wasm}, nil
}

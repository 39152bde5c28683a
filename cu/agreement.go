package cu

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aonode/aonode/dataitem/aoapi"
	"github.com/aonode/aonode/store"
)

// Bounds of the attestations held from other CUs: they arrive by gossip from untrusted
// peers, for slots this CU may never compute.
const (
	// DefaultMaxHeldAttestations bounds the evaluations (process, slot, cron seq) the CU
	// holds other CUs' attestations of; the oldest received is forgotten first.
	DefaultMaxHeldAttestations = 65536
	// maxSignersPerKey bounds the distinct CUs held for one evaluation.
	maxSignersPerKey = 32
)

// Attestation is a verified attestation (aoapi.ParseAttestation) and its raw item.
type Attestation struct {
	aoapi.Attestation
	Raw []byte
}

// Evidence is two attestations by one signer of one evaluation with different hashes: the
// signer contradicted itself.
type Evidence struct {
	Signer string
	Key    aoapi.AttestationKey
	First  []byte
	Second []byte
}

// agreement holds the other CUs' attestations and compares them with the CU's own.
type agreement struct {
	mu    sync.Mutex
	max   int
	held  map[aoapi.AttestationKey]map[string]Attestation
	order []aoapi.AttestationKey // arrival order of the keys, for eviction

	received    *prometheus.CounterVec
	divergences prometheus.Counter
	evidence    prometheus.Counter
}

func newAgreement(reg prometheus.Registerer, max int) (*agreement, error) {
	a := &agreement{
		max:  max,
		held: map[aoapi.AttestationKey]map[string]Attestation{},
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aonode_cu_attestations_received_total",
			Help: "Other CUs' attestations received, by outcome (held, duplicate, own, full).",
		}, []string{"outcome"}),
		divergences: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_cu_attestation_divergences_total",
			Help: "Attestations of another CU whose result or memory hash differs from this CU's for the same evaluation.",
		}),
		evidence: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aonode_cu_attestation_contradictions_total",
			Help: "CUs seen signing two different attestations of one evaluation (evidence).",
		}),
	}
	for _, c := range []prometheus.Collector{a.received, a.divergences, a.evidence} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return a, nil
}

// ReceiveAttestation takes another CU's attestation, verified by the caller (gossip's
// validator: signature, shape, signer announcing the CU role). It is held (bounded) until
// this CU has computed that slot, and compared with this CU's own as soon as both exist: a
// difference is logged at warn and counted. A signer that already attested the evaluation
// differently is reported to Config.OnEvidence. It returns whether the attestation was new.
func (c *CU) ReceiveAttestation(a Attestation) bool {
	if a.Signer == c.address {
		c.agree.received.WithLabelValues("own").Inc()
		return false
	}
	key := a.Key()
	g := c.agree
	g.mu.Lock()
	bySigner := g.held[key]
	if prev, ok := bySigner[a.Signer]; ok {
		g.mu.Unlock()
		if !prev.Agrees(a.Attestation) {
			c.contradiction(Evidence{Signer: a.Signer, Key: key, First: prev.Raw, Second: a.Raw})
		}
		g.received.WithLabelValues("duplicate").Inc()
		return false
	}
	if bySigner == nil {
		for len(g.held) >= g.max && len(g.order) > 0 {
			delete(g.held, g.order[0])
			g.order = g.order[1:]
		}
		bySigner = map[string]Attestation{}
		g.held[key] = bySigner
		g.order = append(g.order, key)
	}
	if len(bySigner) >= maxSignersPerKey {
		g.mu.Unlock()
		g.received.WithLabelValues("full").Inc()
		return false
	}
	bySigner[a.Signer] = a
	g.mu.Unlock()
	g.received.WithLabelValues("held").Inc()
	if own, err := c.db.EvalResult(a.Process, a.Slot, a.CronSeq); err == nil {
		c.compare(own, []Attestation{a})
	}
	return true
}

// contradiction reports evidence of a CU contradicting itself.
func (c *CU) contradiction(ev Evidence) {
	c.agree.evidence.Inc()
	c.log.Warn("a CU signed two different attestations of one evaluation", "cu", ev.Signer,
		"process", ev.Key.Process, "slot", ev.Key.Slot, "cron-seq", ev.Key.CronSeq)
	if c.cfg.OnEvidence != nil {
		c.cfg.OnEvidence(ev)
	}
}

// compare checks other CUs' attestations against this CU's own result.
func (c *CU) compare(own store.EvalResult, others []Attestation) {
	mine := c.attestationOf(own)
	for _, o := range others {
		if o.Agrees(mine) {
			continue
		}
		c.agree.divergences.Inc()
		c.log.Warn("attestation diverges from this CU's", "process", own.Process, "slot", own.Nonce,
			"cron-seq", own.Seq, "cu", o.Signer, "result", hex.EncodeToString(o.ResultSHA256),
			"own-result", hex.EncodeToString(mine.ResultSHA256))
	}
}

// attested is called with the evaluations just made durable: they are published
// (Config.OnAttest) and compared with what other CUs attested of them.
func (c *CU) attested(recs []store.EvalResult) {
	for _, rec := range recs {
		key := aoapi.AttestationKey{Process: rec.Process, Slot: rec.Nonce, CronSeq: rec.Seq}
		c.agree.mu.Lock()
		var others []Attestation
		for _, a := range c.agree.held[key] {
			others = append(others, a)
		}
		c.agree.mu.Unlock()
		if len(others) > 0 {
			c.compare(rec, others)
		}
		if c.cfg.OnAttest != nil {
			c.cfg.OnAttest(rec.Process, rec.Attestation)
		}
	}
}

// Agreement answers what GET /agreement/{pid} does: every distinct CU's attestation of the
// evaluation this CU knows, its own first, and whether they agree. slot < 0 looks the
// evaluation up by message id.
func (c *CU) Agreement(pid string, slot int64, message string) (aoapi.Agreement, error) {
	out := aoapi.Agreement{Process: pid, Message: message, Attestations: []aoapi.AgreementAttestation{}}
	var rec store.EvalResult
	var err error
	if slot < 0 {
		rec, err = c.db.EvalResultByMessage(pid, message)
	} else {
		rec, err = c.db.EvalResult(pid, uint64(slot), 0)
	}
	var key aoapi.AttestationKey
	var all []aoapi.Attestation // in the order of out.Attestations
	switch {
	case err == nil:
		key = aoapi.AttestationKey{Process: pid, Slot: rec.Nonce, CronSeq: rec.Seq}
		out.Slot, out.Message = rec.Nonce, rec.MessageID
		mine := c.attestationOf(rec)
		all = append(all, mine)
		out.Attestations = append(out.Attestations, agreementEntry(mine, c.address, rec.Attestation))
	case errors.Is(err, store.ErrNotFound) && slot >= 0:
		key = aoapi.AttestationKey{Process: pid, Slot: uint64(slot)}
		out.Slot = uint64(slot)
	case errors.Is(err, store.ErrNotFound):
		// Not computed here: the message's slot is known only from held attestations.
		c.agree.mu.Lock()
		for k, m := range c.agree.held {
			if k.Process != pid {
				continue
			}
			for _, a := range m {
				if a.Message == message {
					key = k
				}
				break
			}
		}
		c.agree.mu.Unlock()
		if key.Process == "" {
			return out, errorf(ErrNotFound, "no attestation of message %s in process %s", message, pid)
		}
		out.Slot = key.Slot
	default:
		return out, err
	}
	c.agree.mu.Lock()
	others := make([]Attestation, 0, len(c.agree.held[key]))
	for _, a := range c.agree.held[key] {
		others = append(others, a)
	}
	c.agree.mu.Unlock()
	slices.SortFunc(others, func(a, b Attestation) int {
		switch {
		case a.Signer < b.Signer:
			return -1
		case a.Signer > b.Signer:
			return 1
		}
		return 0
	})
	for _, a := range others {
		if out.Message == "" {
			out.Message = a.Message
		}
		all = append(all, a.Attestation)
		out.Attestations = append(out.Attestations, agreementEntry(a.Attestation, a.Signer, a.Raw))
	}
	if len(out.Attestations) == 0 {
		return out, errorf(ErrNotFound, "no attestation of slot %d in process %s", key.Slot, pid)
	}
	out.Agree = true
	for _, a := range all[1:] {
		if !a.Agrees(all[0]) {
			out.Agree = false
		}
	}
	return out, nil
}

func agreementEntry(a aoapi.Attestation, signer string, raw []byte) aoapi.AgreementAttestation {
	return aoapi.AgreementAttestation{
		CU: signer, ResultSHA256: hex.EncodeToString(a.ResultSHA256), MemorySHA256: hex.EncodeToString(a.Memory),
		Item: base64.RawURLEncoding.EncodeToString(raw),
	}
}

// handleAgreement serves GET /agreement/{pid}?slot=N or ?message=ID.
func (c *CU) handleAgreement(w http.ResponseWriter, r *http.Request) error {
	pid := r.PathValue("pid")
	if err := validID(pid); err != nil {
		return err
	}
	q := r.URL.Query()
	slot, message := int64(-1), q.Get("message")
	if s := q.Get("slot"); s != "" {
		n, err := strconv.ParseUint(s, 10, 63)
		if err != nil || message != "" {
			return errorf(ErrBadRequest, "slot %q: want a decimal slot or a message, not both", truncate(s, 32))
		}
		slot = int64(n)
	} else if err := validID(message); err != nil {
		return errorf(ErrBadRequest, "slot or message query parameter is required")
	}
	out, err := c.Agreement(pid, slot, message)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

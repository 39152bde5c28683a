package aoapi

// Evidence is proof that schedulers of one process signed two different assignments for the
// same slot (equivocation). GET /su/evidence lists it, ao/1/evidence gossips it and
// `aonode evidence verify FILE` reads it, all in this one shape. Assignments are the two raw
// ANS-104 assignment items, base64url without padding, in ascending order of their ids, so
// that the same pair is the same bytes whoever found it. ProcessItem is the raw Process item
// (base64url) whose Scheduler tags name the set the signers must belong to; it makes the
// evidence verifiable offline, and it is omitted only where the reader holds the process.
type Evidence struct {
	Process     string    `json:"process"`
	Nonce       uint64    `json:"nonce"`
	Assignments [2]string `json:"assignments"`
	ProcessItem string    `json:"process_item,omitempty"`
}

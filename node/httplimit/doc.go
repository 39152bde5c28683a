// Package httplimit bounds what a client (or a peer) can make a node hold: the bytes of a body
// or response it reads, the time a slow sender may take, the uploads one address may have in
// flight, and the rate of expensive requests per address.
//
// A length a client announces is a claim, never an allocation: ReadAll and ReadBody grow their
// buffer with what has arrived, up to a limit, so a connection claiming 10 MiB and sending two
// bytes costs two bytes. Every unit that reads a body (mu, su, cu, node/gateway) and every
// client or stream that reads an answer (the aoapi client of SUs, CUs and MUs, cu's gateway
// client, p2p fetch) reads through ReadAll.
//
// Guard is the node's middleware for the rest: while a handler reads a body through ReadBody,
// the client's address holds one of UploadsPerAddr upload slots, and the body must keep
// arriving at BodyMinRate after a grace period (a 10 MiB item fits a slow link; a trickle is
// cut off). Outside a Guard (tests, in-process calls) ReadBody only bounds the size.
//
// Addresses are the connecting peer's (http.Request.RemoteAddr); forwarding headers are not
// trusted, because any client can set them. Behind a reverse proxy every client shares the
// proxy's address: set the limits there, and raise or disable them here.
//
// httplimit never logs and owns no goroutine.
package httplimit

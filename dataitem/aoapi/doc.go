// Package aoapi is the one definition of the JSON the reference AO units speak over HTTP (the
// SU's, CU's and MU's APIs, ao-protocol §1, §2, §3) and one typed client for them. The units
// write these shapes (su serves them byte for byte as the reference does) and every caller
// reads them through Client: the CU reading its SU, the MU sending to SUs and reading CU
// results, the node routing between peers, and the command line.
//
// aoapi imports only dataitem and the standard library: it knows the wire, not the units.
// Field order in every struct is the reference's, so that what su writes matches it byte for
// byte; keep it.
package aoapi

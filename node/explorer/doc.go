// Package explorer serves a node's explorer: a page under /explorer that shows what the node
// knows (itself, the network, processes, their slots and results, messages, who agrees on
// them), and the few JSON endpoints under /explorer/api that the node's other APIs lack.
//
// # What it owns
//
// The page's assets (index.html, CSS, JavaScript, SVG) are written here and embedded in the
// binary (an embed directive in explorer.go): nothing is loaded from another origin, nothing
// needs to be installed, and the page works without internet. The JSON endpoints read the node's store and, for the network view,
// the /peers of the nodes in the directory; they are read-only and paged, so that a process of
// 100,000 slots or a network of 50 nodes costs one page of reads, not a walk of everything.
//
// # What it must never do
//
//   - Execute or evaluate anything it shows. Messages, tags, results and data are untrusted
//     text: the page sets them with textContent and DOM properties only, never as HTML, and
//     every response carries a Content-Security-Policy that forbids inline scripts, inline
//     styles and every other origin (see csp), so even a mistake in the page cannot run a
//     message's script.
//   - Write to the store, or evaluate a process: a result the node's CU has not computed is
//     shown as not computed (the page may ask /cu/result, which the CU answers as usual).
//   - Scan without a bound: every list takes a limit with a cap, and every look-around (the
//     process graph, the pushed messages of a message, the network fan-out) stops at a fixed
//     number of records and says so in its answer.
package explorer

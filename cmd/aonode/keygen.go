package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/aonode/aonode/dataitem"
)

const keygenUsage = `keygen --type ed25519|solana|arweave|ethereum --out FILE

Writes a new private key as a JWK JSON file (mode 0600; an existing file is
never overwritten) and prints the key's address:
  arweave   {"kty":"RSA","n","e","d","p","q","dp","dq","qi"}: an RSA-4096 wallet
            as arweave-js and aoconnect read it (signature type 1)
  ed25519   {"kty":"OKP","crv":"Ed25519","d":seed,"x":public key} (RFC 8037, type 2)
  solana    the ed25519 form plus "ans104_signature_type":4 (type 4, signing
            the hex text of the deep hash)
  ethereum  {"kty":"EC","crv":"secp256k1","d","x","y"} (RFC 8812, type 3)
All values are base64url without padding.`

var keyTypes = map[string]dataitem.SignatureType{
	"arweave":  dataitem.Arweave,
	"ed25519":  dataitem.ED25519,
	"ethereum": dataitem.Ethereum,
	"solana":   dataitem.Solana,
}

func keygenCommand() command {
	return command{name: "keygen", summary: "make a key file (ed25519, solana, arweave or ethereum)", run: runKeygen}
}

func runKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", keygenUsage, stderr)
	typ := fs.String("type", "", "key type: ed25519, solana, arweave or ethereum")
	out := fs.String("out", "", "file to write the key to (must not exist)")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	t, ok := keyTypes[*typ]
	if !ok {
		return usageError{fmt.Sprintf("--type must be ed25519, solana, arweave or ethereum, not %q", *typ)}
	}
	if *out == "" {
		return usageError{"--out FILE is required"}
	}
	// Fail before the (slow, for RSA) generation when the file is taken.
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite a key file", *out)
	}
	s, err := dataitem.GenerateKey(t)
	if err != nil {
		return err
	}
	b, err := dataitem.MarshalKey(s)
	if err != nil {
		return err
	}
	if err := writeNewFile(*out, b, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s key to %s\naddress: %s\n", *typ, *out, dataitem.OwnerAddress(s.Owner()))
	if es, ok := s.(*dataitem.EthereumSigner); ok {
		fmt.Fprintf(stdout, "ethereum address: %s\n", es.EthAddress())
	}
	return nil
}

// writeNewFile creates path (which must not exist) with mode perm, writes b
// and syncs it; on any failure it removes what it created.
func writeNewFile(path string, b []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; refusing to overwrite a key file", path)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

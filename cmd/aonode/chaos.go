package main

import (
	"context"
	"errors"
	"io"
)

func runChaos(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not yet")
}

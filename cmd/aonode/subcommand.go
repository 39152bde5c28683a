package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// subcommand is one verb of a command with verbs (item sign, module publish, ...).
type subcommand struct {
	name string
	run  func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// dispatch runs the subcommand args[0] names, or prints usage for none, help, or an unknown one.
func dispatch(ctx context.Context, usage string, args []string, stdout, stderr io.Writer, subs ...subcommand) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: aonode %s\n", usage)
		return usageError{"a subcommand is required"}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stderr, "usage: aonode %s\n", usage)
		return flag.ErrHelp
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, args[1:], stdout, stderr)
		}
		names[i] = s.name
	}
	want := names[len(names)-1]
	if len(names) > 1 {
		want = strings.Join(names[:len(names)-1], ", ") + " or " + want
	}
	return usageError{fmt.Sprintf("unknown subcommand %q (want %s)", args[0], want)}
}

// noContext adapts a subcommand that needs no context.
func noContext(run func(args []string, stdout, stderr io.Writer) error) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		return run(args, stdout, stderr)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/shiphook/shiphook/internal/client"
	"github.com/shiphook/shiphook/store"
	"github.com/shiphook/shiphook/subscriptions"
)

// Exit statuses of the shiphook binary, as exitCode gives them.
const (
	exitOK       = 0
	exitUsage    = 1 // a usage error, or any other failure
	exitRefused  = 2 // the API answered 4xx
	exitAPIError = 3 // the API answered 5xx, or could not be reached
	exitVerify   = 4 // verify found the signature wrong
)

// exitCode is the exit status for err, what run returns: an API's 4xx
// answer is exitRefused, its 5xx or no answer exitAPIError, an error that
// knows its own status (verify's, a batch's refused events) that status,
// and any other exitUsage.
func exitCode(err error) int {
	var (
		coded  interface{ ExitCode() int }
		apiErr *client.Error
		netErr *client.NetError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &coded):
		return coded.ExitCode()
	case errors.As(err, &apiErr):
		if apiErr.Status >= 500 {
			return exitAPIError
		}
		return exitRefused
	case errors.As(err, &netErr):
		return exitAPIError
	}
	return exitUsage
}

// serviceCommands are the commands that parse their own flags, with
// their environment defaults (config.go): runCommand runs them with their
// arguments as given.
var serviceCommands = []struct{ name, short string }{
	{"serve", "Run the API and the delivery workers in one process"},
	{"api", "Run only the API (scale out with separate workers)"},
	{"worker", "Run only the delivery workers and the reconciler"},
	{"migrate", "Apply the database migrations and exit"},
	{rotateCommand, "Encrypt every endpoint secret and header value with the first encryption key"},
	{"receive", "Run a small webhook receiver that verifies and prints deliveries"},
	{"feed", "Read a pull endpoint's feed, one JSON message a line ($SHIPHOOK_KEY; $SHIPHOOK_API_KEY still works)"},
	{"health", "Check a running shiphook's probe, for a container health check"},
}

// newCommands returns the command tree of the binary: the service
// commands, which keep their own flag parsing, the small ones (gen-key,
// version…) and the admin commands, which call a running shiphook's API.
// "shiphook help" and "shiphook -h" print usage (run.go); no command
// prints it to stderr and fails.
func newCommands(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "shiphook",
		Short:         "Share shipment changes with partners as signed webhooks",
		Version:       version,
		SilenceErrors: true, // main prints the error, once
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprint(stderr, usage)
			return errors.New("no command given")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("shiphook {{.Version}}\n")
	root.CompletionOptions.DisableDefaultCmd = true
	defaultHelp := (&cobra.Command{}).HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		if c == root {
			fmt.Fprint(c.OutOrStdout(), usage)
			return
		}
		defaultHelp(c, args)
	})
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (run \"%s --help\" for usage)", err, c.CommandPath())
	})

	for _, sc := range serviceCommands {
		root.AddCommand(serviceCommand(sc.name, sc.short, getenv, stdout, stderr))
	}
	root.AddCommand(
		printCommand("gen-key", "Print a new random API key (for SHIPHOOK_ADMIN_KEY)", subscriptions.NewKey),
		printCommand("gen-encryption-key", "Print a new random encryption key (for SHIPHOOK_ENCRYPTION_KEY)", store.NewEncryptionKey),
		printCommand("version", "Print the version", func() string { return "shiphook " + version }),
	)
	o := &clientOptions{getenv: getenv, stdout: stdout, stderr: stderr}
	root.AddCommand(partnersCommand(o), apiKeysCommand(o), endpointsCommand(o), eventsCommand(o),
		messagesCommand(o), attemptsCommand(o), retryCommand(o), recoverCommand(o), verifyCommand(o))
	return root
}

// serviceCommand wraps the service command name: its arguments, flags
// and -h included, go to runCommand untouched, so that it reads them as
// it always has.
func serviceCommand(name, short string, getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:                name + " [flags]",
		Short:              short,
		DisableFlagParsing: true,
		RunE: func(c *cobra.Command, args []string) error {
			return runCommand(c.Context(), name, args, getenv, stdout, stderr)
		},
	}
	// "shiphook help <name>" prints what "<name> -h" prints.
	c.SetHelpFunc(func(c *cobra.Command, _ []string) {
		_ = runCommand(context.Background(), name, []string{"-h"}, getenv, stdout, stderr)
	})
	return c
}

// printCommand is a command that prints what value returns.
func printCommand(name, short string, value func() string) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(c.OutOrStdout(), value())
			return err
		},
	}
}

// groupCommand is a command that only holds others: run alone, it prints
// its help and fails as a usage error; an unknown subcommand is one too.
func groupCommand(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			c.SetOut(c.ErrOrStderr())
			_ = c.Help()
			return fmt.Errorf("%s: give one of its commands", c.CommandPath())
		},
	}
	g.AddCommand(subs...)
	return g
}

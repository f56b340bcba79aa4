// Command ditkit inspects, diffs, converts and runs diffusion-transformer
// checkpoints (DiT, PixArt, Latte, Open-Sora) without PyTorch.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes shared by every command.
const (
	exitOK       = 0
	exitFindings = 1 // diff found differences; scan found danger
	exitError    = 2 // unreadable input, bad usage
)

// command is one subcommand. run returns the exit code.
type command struct {
	name    string
	usage   string // one line: arguments and flags
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
	// more, when set, lists flags of another mode in --help (preview
	// --latent): a heading and a FlagSet.
	more func() (string, *flag.FlagSet)
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	stop := startProfiling()
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs a command line; everything it writes passes a termGuard.
func run(args []string, stdout, stderr io.Writer) int {
	gout, gerr := newTermGuard(stdout), newTermGuard(stderr)
	defer gerr.Flush()
	defer gout.Flush()
	return dispatch(args, gout, gerr)
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 { // no command: the command list, as a usage error
		topUsage(stderr)
		return exitError
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		if len(args) > 1 {
			c := commands[args[1]]
			if c == nil {
				return unknownCommand(stderr, args[1])
			}
			return c.run([]string{"--help"}, stdout, stderr)
		}
		topUsage(stderr)
		return exitOK
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Fprintln(stdout, "ditkit", version)
		return exitOK
	}
	c := commands[args[0]]
	if c == nil {
		return unknownCommand(stderr, args[0])
	}
	return c.run(args[1:], stdout, stderr)
}

func unknownCommand(stderr io.Writer, name string) int {
	fmt.Fprintf(stderr, "ditkit: unknown command %q\nCommands: %s (ditkit --help says what each does).\n", name, strings.Join(commandNames(), ", "))
	return exitError
}

// newFlags builds a command's FlagSet: --help prints the command's help
// and a flag error a one-line "ditkit: NAME: …" message, both on stderr
// (usage.go); stdout is kept for results.
func newFlags(c *command, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ditkit "+c.name, flag.ContinueOnError)
	fs.SetOutput(flagOut{stderr: stderr, c: c})
	fs.Usage = func() {} // parseFlags prints
	if flagSetHook != nil {
		flagSetHook(c, fs)
	}
	return fs
}

// parseFlags parses flags that may appear before or after positional
// arguments. It returns the positionals, or an exit code when parsing ended
// the command (help or an error).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			flagParseError(fs, err)
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitError, false
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return pos, 0, true
}

// writeJSON prints v as the commands' --json output: one indented JSON
// value.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(v)
}

// emit prints a command's result: v as JSON with --json, else as text.
func emit[T any](w io.Writer, asJSON bool, v T, text func(io.Writer, T)) error {
	if asJSON {
		return writeJSON(w, v)
	}
	text(w, v)
	return nil
}

// parseOne parses flags and the one positional argument a command takes;
// need is the usage error when it is not exactly one.
func parseOne(fs *flag.FlagSet, c *command, args []string, stderr io.Writer, need string) (string, int, bool) {
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return "", code, false
	}
	if len(pos) != 1 {
		return "", usageError(stderr, c, need), false
	}
	return pos[0], exitOK, true
}

// fail prints a one-line error and returns exitError.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "ditkit: "+term(err.Error()))
	return exitError
}

package main

// How every command prints its usage, its --help and flag errors: all on
// stderr (stdout carries only results), flags spelled --name (-o, the one
// one-letter flag, keeps its single dash), placeholders taken from the
// command's usage line so the two always agree, and one default per flag.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// flagOut is a FlagSet's output: it swallows the flag package's own
// messages (they spell flags -name and print the whole flag list after an
// error) and keeps what parseFlags needs to print ours.
type flagOut struct {
	stderr io.Writer
	c      *command
}

func (flagOut) Write(p []byte) (int, error) { return len(p), nil }

// flagSetHook, when set (tests), sees every FlagSet a command builds.
var flagSetHook func(*command, *flag.FlagSet)

// dash spells a flag as the CLI documents it: --name, or -o for one letter.
func dash(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// usageLines is "Usage: ditkit NAME USAGE" (a usage may hold more lines).
func usageLines(c *command) string {
	return "Usage: ditkit " + c.name + " " + c.usage
}

// printHelp is a command's --help: usage, summary, every flag.
func printHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "%s\n\n%s\n", usageLines(c), wrap(c.summary, 0, 100))
	if n := countFlags(fs); n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		printFlags(w, c, fs)
	}
	if c.more != nil {
		title, more := c.more()
		fmt.Fprintf(w, "\n%s:\n", title)
		printFlags(w, c, more)
	}
}

func countFlags(fs *flag.FlagSet) int {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n
}

// printFlags lists a FlagSet's flags: "--name PLACEHOLDER", then the text
// and the default, unless the text states the default itself.
func printFlags(w io.Writer, c *command, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		line := "  " + dash(f.Name)
		if p := placeholder(c, f); p != "" {
			line += " " + p
		}
		fmt.Fprintln(w, line)
		text := f.Usage
		if d, ok := shownDefault(f); ok {
			text += " (default " + d + ")"
		}
		fmt.Fprintln(w, wrap(text, 8, 100))
	})
}

// shownDefault is the default help prints after a flag's text: none for a
// zero value, or when the text says what the default is (a default that
// depends on the input, such as --class's).
func shownDefault(f *flag.Flag) (string, bool) {
	switch f.DefValue {
	case "", "0", "false":
		return "", false
	}
	if strings.Contains(strings.ToLower(f.Usage), "default") {
		return "", false
	}
	return f.DefValue, true
}

// placeholder names a flag's value as the command's usage line does
// ("--steps N", "--sampler ddpm|ddim"), else as another command's usage
// does, else by its type; bool flags take none.
func placeholder(c *command, f *flag.Flag) string {
	if isBool(f) {
		return ""
	}
	if p := usagePlaceholders(c.usage)[f.Name]; p != "" {
		return p
	}
	for _, n := range commandNames() {
		if p := usagePlaceholders(commands[n].usage)[f.Name]; p != "" {
			return p
		}
	}
	switch kind, _ := flag.UnquoteUsage(f); kind {
	case "int", "uint", "int64", "uint64":
		return "N"
	case "float":
		return "X"
	case "duration":
		return "DURATION"
	}
	return "VALUE"
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// usagePlaceholders reads "--name VALUE" pairs from a usage line; a flag
// followed by another flag, "|" or nothing has no value there.
func usagePlaceholders(usage string) map[string]string {
	out := map[string]string{}
	toks := strings.Fields(usage)
	for i, t := range toks {
		name, ok := usageFlag(t)
		if !ok || i+1 == len(toks) {
			continue
		}
		v := trimUnbalanced(toks[i+1])
		if v == "" || v == "|" || strings.HasPrefix(v, "-") || strings.HasPrefix(v, "[") || strings.HasPrefix(v, "(") {
			continue
		}
		if _, seen := out[name]; !seen {
			out[name] = v
		}
	}
	return out
}

// usageFlags lists the flags a usage line names, in order.
func usageFlags(usage string) []string {
	var out []string
	for _, t := range strings.Fields(usage) {
		if name, ok := usageFlag(t); ok {
			out = append(out, name)
		}
	}
	return out
}

var usageFlagRE = regexp.MustCompile(`^[\[(]*(--?)([a-z][a-z0-9-]*)[\])]*$`)

// usageFlag reads a usage token such as "[--json]" or "(--arch" as a flag.
func usageFlag(tok string) (string, bool) {
	m := usageFlagRE.FindStringSubmatch(tok)
	if m == nil || (m[1] == "-") != (len(m[2]) == 1) {
		return "", false
	}
	return m[2], true
}

// trimUnbalanced drops the closing brackets a usage token borrows from
// its group: "fp32]" → "fp32", "C[,C…]]" → "C[,C…]", "comfyui)" → "comfyui".
func trimUnbalanced(s string) string {
	for {
		switch {
		case strings.HasSuffix(s, "]") && strings.Count(s, "]") > strings.Count(s, "["):
			s = s[:len(s)-1]
		case strings.HasSuffix(s, ")") && strings.Count(s, ")") > strings.Count(s, "("):
			s = s[:len(s)-1]
		case strings.HasSuffix(s, ";") || strings.HasSuffix(s, ","):
			s = s[:len(s)-1]
		default:
			return s
		}
	}
}

// wrap breaks text into lines of at most width columns, each indented.
func wrap(text string, indent, width int) string {
	pad := strings.Repeat(" ", indent)
	var b strings.Builder
	line := 0
	for _, word := range strings.Fields(text) {
		n := len([]rune(word))
		switch {
		case line == 0:
			b.WriteString(pad)
			line = indent
		case line+1+n > width:
			b.WriteString("\n" + pad)
			line = indent
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += n
	}
	return b.String()
}

// flagErrorRE finds the flag names in the flag package's messages
// ("not defined: -x", "needs an argument: -x", "for flag -x:", "for -x:").
var flagErrorRE = regexp.MustCompile(`(defined: |argument: |for flag |for )-([^\s:=]+)`)

// flagError rewords a flag package error with the flags spelled --name
// and bad values said in words.
func flagError(fs *flag.FlagSet, err error) string {
	msg := flagErrorRE.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sub := flagErrorRE.FindStringSubmatch(m)
		return sub[1] + dash(sub[2])
	})
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return "unknown flag " + name
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return name + " needs a value"
	}
	if m := badValueRE.FindStringSubmatch(msg); m != nil {
		want := "a valid value"
		if f := fs.Lookup(strings.TrimLeft(m[2], "-")); f != nil {
			switch kind, _ := flag.UnquoteUsage(f); {
			case isBool(f):
				want = "true or false"
			case kind == "int" || kind == "int64":
				want = "a whole number"
			case kind == "uint" || kind == "uint64":
				want = "a whole number ≥ 0"
			case kind == "float":
				want = "a number"
			}
		}
		if m[3] == "value out of range" {
			want += " in range"
		}
		return fmt.Sprintf("%s %s: want %s", m[2], m[1], want)
	}
	return msg
}

// badValueRE reads `invalid [boolean ]value "V" for [flag ]--name: why`.
var badValueRE = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?(--?[^\s:]+): (.*)$`)

// usageError prints a bad command line's one-line error, "ditkit: NAME:
// MSG (see ditkit NAME --help)", on stderr and returns exitError.
func usageError(stderr io.Writer, c *command, msg string) int {
	fmt.Fprintf(stderr, "ditkit: %s: %s (see ditkit %s --help)\n", c.name, msg, c.name)
	return exitError
}

// flagParseError prints a flag error from fs's command, or returns false
// when fs was not built by newFlags.
func flagParseError(fs *flag.FlagSet, err error) bool {
	o, ok := fs.Output().(flagOut)
	if !ok {
		return false
	}
	if errors.Is(err, flag.ErrHelp) {
		printHelp(o.stderr, o.c, fs)
		return true
	}
	usageError(o.stderr, o.c, flagError(fs, err))
	return true
}

// topUsage lists every command with its summary (ditkit, ditkit --help).
func topUsage(w io.Writer) {
	fmt.Fprintln(w, "ditkit — inspect, diff, convert and run diffusion-transformer checkpoints: DiT, PixArt, Latte, Open-Sora,")
	fmt.Fprintln(w, "Flux.1, Wan, SD3/3.5, HunyuanVideo, LTX-Video, CogVideoX, Sana (original, diffusers and ComfyUI layouts;")
	fmt.Fprintln(w, "torch .pt/.pth/.bin, safetensors and shards, GGUF, fp8)")
	fmt.Fprintln(w, "\nUsage: ditkit COMMAND [ARGS]\n\nCommands:")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-9s %s\n", n, strings.TrimSpace(wrap(commands[n].summary, 12, 100)))
	}
	fmt.Fprintln(w, "\nRun 'ditkit COMMAND --help' (or 'ditkit help COMMAND') for a command's flags; 'ditkit --version' prints the version.")
	fmt.Fprintln(w, "Exit codes: 0 ok (also for --help), 1 findings (diff found differences, scan found danger), 2 error (bad input or usage; also ditkit with no command).")
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// helpOf runs `ditkit NAME --help` and returns its stderr and the flags
// the command defined (every FlagSet it built, plus --help's other mode).
func helpOf(t *testing.T, name string) (string, map[string]*flag.Flag) {
	t.Helper()
	flags := map[string]*flag.Flag{}
	var sets []*flag.FlagSet
	flagSetHook = func(_ *command, fs *flag.FlagSet) { sets = append(sets, fs) }
	defer func() { flagSetHook = nil }()
	code, out, errs := runCLI(t, name, "--help")
	if code != 0 || out != "" {
		t.Fatalf("%s --help: exit %d, stdout %q (help belongs on stderr)", name, code, out)
	}
	if c := commands[name]; c.more != nil {
		_, more := c.more()
		sets = append(sets, more)
	}
	for _, fs := range sets {
		fs.VisitAll(func(f *flag.Flag) { flags[f.Name] = f })
	}
	return errs, flags
}

// Every command's --help goes to stderr (exit 0), starts with its usage
// line and lists every flag it takes spelled --name (-o for the one
// one-letter flag), never Go's -name; `ditkit help NAME` says the same.
func TestHelpOnStderrForEveryCommand(t *testing.T) {
	singleDash := regexp.MustCompile(`(?m)^\s+-[a-z][a-z0-9-]+`)
	for _, name := range commandNames() {
		help, flags := helpOf(t, name)
		if !strings.HasPrefix(help, "Usage: ditkit "+name+" ") {
			t.Errorf("%s --help starts %q", name, help[:min(len(help), 40)])
		}
		if !strings.Contains(help, commands[name].summary[:20]) {
			t.Errorf("%s --help lacks the summary", name)
		}
		for fname := range flags {
			if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(dash(fname)) + `( |$)`).MatchString(help) {
				t.Errorf("%s --help does not list %s", name, dash(fname))
			}
		}
		if m := singleDash.FindString(help); m != "" {
			t.Errorf("%s --help spells a flag Go's way: %q", name, m)
		}
		code, out, errs := runCLI(t, "help", name)
		if code != 0 || out != "" || errs != help {
			t.Errorf("ditkit help %s: exit %d, stdout %q; differs from %s --help", name, code, out, name)
		}
	}
}

// ditkit with no command lists every command with its summary on stderr
// and exits 2 (a usage error); --help, -h and help do the same with exit 0.
func TestTopLevelUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{{nil, 2}, {[]string{"--help"}, 0}, {[]string{"-h"}, 0}, {[]string{"help"}, 0}} {
		code, out, errs := runCLI(t, tc.args...)
		if code != tc.code || out != "" {
			t.Errorf("ditkit %v: exit %d (want %d), stdout %q", tc.args, code, tc.code, out)
		}
		for _, name := range commandNames() {
			words := strings.Fields(commands[name].summary)
			if !regexp.MustCompile(`(?m)^  ` + name + ` +` + regexp.QuoteMeta(strings.Join(words[:3], " "))).MatchString(errs) {
				t.Errorf("ditkit %v does not list %s with its summary:\n%s", tc.args, name, errs)
			}
		}
		if !strings.Contains(errs, "Exit codes: 0 ok") {
			t.Errorf("ditkit %v does not state the exit codes", tc.args)
		}
	}
	for _, args := range [][]string{{"nosuch"}, {"help", "nosuch"}} {
		code, out, errs := runCLI(t, args...)
		if code != 2 || out != "" || !strings.HasPrefix(errs, `ditkit: unknown command "nosuch"`) || !strings.Contains(errs, "convert, decode, diff") {
			t.Errorf("ditkit %v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	if code, out, _ := runCLI(t, "--version"); code != 0 || !strings.HasPrefix(out, "ditkit ") {
		t.Errorf("--version: exit %d, stdout %q", code, out)
	}
}

// A bad flag is one line on stderr, "ditkit: NAME: …", with the flag
// spelled --name and a bad value said in words; nothing on stdout, exit 2.
func TestFlagErrorsArePrefixedOneLiners(t *testing.T) {
	for _, name := range commandNames() {
		code, out, errs := runCLI(t, name, "--no-such-flag")
		want := "ditkit: " + name + ": unknown flag --no-such-flag (see ditkit " + name + " --help)\n"
		if code != 2 || out != "" || errs != want {
			t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr %q; want %q", name, code, out, errs, want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sample", "x.pt", "--steps", "many"}, `ditkit: sample: --steps "many": want a whole number`},
		{[]string{"preview", "x.pt", "--seed", "-1"}, `ditkit: preview: --seed "-1": want a whole number ≥ 0`},
		{[]string{"forward", "--cfg-scale", "big"}, `ditkit: forward: --cfg-scale "big": want a number`},
		{[]string{"diff", "x.pt", "--json=maybe"}, `ditkit: diff: --json "maybe": want true or false`},
		{[]string{"convert", "x.pt", "-o"}, `ditkit: convert: -o needs a value`},
		{[]string{"inspect", "-q"}, `ditkit: inspect: unknown flag -q`},
		{[]string{"diff"}, `ditkit: diff: need exactly one FILE`},
		{[]string{"sample", "x.pt"}, `ditkit: sample: need FILE and -o PREVIEW.png`},
		{[]string{"serve", "extra"}, `ditkit: serve: no arguments besides --addr`},
	} {
		code, out, errs := runCLI(t, tc.args...)
		if code != 2 || out != "" || !strings.HasPrefix(errs, tc.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one line starting %q", tc.args, code, out, errs, tc.want)
		}
	}
}

// help agrees with the usage line: every flag the usage line names is one
// the command takes, shown in --help with the usage line's placeholder;
// each flag shows one default, the FlagSet's unless its text states it
// (preview's steps and sampler are its own: the families' quick
// previews); a "--name default V" in a usage line is the FlagSet's. The README's CLI headings name only real flags.
func TestHelpAgreesWithUsage(t *testing.T) {
	entryRE := regexp.MustCompile(`(?m)^  (--?[a-z][a-z0-9-]*)( [^\n]+)?\n((?:        [^\n]*\n?)*)`)
	statedRE := regexp.MustCompile(`--([a-z][a-z0-9-]*) default ([^\s,;\])]+)`)
	texts := map[string]map[string]string{} // command → flag → help text
	for _, name := range commandNames() {
		c := commands[name]
		help, flags := helpOf(t, name)
		for _, f := range usageFlags(c.usage) {
			if flags[f] == nil {
				t.Errorf("%s: the usage line names %s, which the command does not take", name, dash(f))
			}
		}
		ph := usagePlaceholders(c.usage)
		texts[name] = map[string]string{}
		for _, m := range entryRE.FindAllStringSubmatch(help, -1) {
			fname := strings.TrimLeft(m[1], "-")
			f := flags[fname]
			if f == nil {
				t.Errorf("%s --help lists %s, which is not a flag", name, m[1])
				continue
			}
			if p := ph[fname]; p != "" && strings.TrimSpace(m[2]) != p {
				t.Errorf("%s: usage line shows %s %s, --help %s%s", name, m[1], p, m[1], m[2])
			}
			text := strings.Join(strings.Fields(m[3]), " ")
			texts[name][fname] = text
			if n := strings.Count(strings.ToLower(text), "default"); n > 1 {
				t.Errorf("%s %s: %d defaults in %q", name, m[1], n, text)
			}
			if d := regexp.MustCompile(`\(default ([^)]*)\)$`).FindStringSubmatch(text); d != nil {
				if d[1] != f.DefValue {
					t.Errorf("%s %s: help shows default %s, the flag's is %s", name, m[1], d[1], f.DefValue)
				}
			} else if _, ok := shownDefault(f); ok {
				t.Errorf("%s %s: default %s not shown", name, m[1], f.DefValue)
			}
		}
		for _, m := range statedRE.FindAllStringSubmatch(c.usage, -1) {
			if f := flags[m[1]]; f != nil && f.DefValue != m[2] {
				t.Errorf("%s: usage line says --%s default %s; the flag's is %s", name, m[1], m[2], f.DefValue)
			}
		}
	}
	// preview's --help states preview's defaults, sample's sample's
	for name, want := range map[string][2]string{"preview": {"DiT, PixArt, Latte 25,", "DiT, PixArt, Latte ddim,"}, "sample": {"DiT 250", "DiT ddpm"}} {
		if got := texts[name]; !strings.Contains(got["steps"], want[0]) || !strings.Contains(got["sampler"], want[1]) {
			t.Errorf("%s --help: --steps %q, --sampler %q; want %q, %q", name, got["steps"], got["sampler"], want[0], want[1])
		}
	}

	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile("(?m)^### `ditkit ([a-z]+)([^`]*)`(?: and `ditkit ([a-z]+)([^`]*)`)?")
	seen := 0
	for _, m := range heading.FindAllStringSubmatch(string(readme), -1) {
		for _, pair := range [][2]string{{m[1], m[2]}, {m[3], m[4]}} {
			if pair[0] == "" {
				continue
			}
			seen++
			if commands[pair[0]] == nil {
				t.Errorf("README documents ditkit %s, which is no command", pair[0])
				continue
			}
			_, flags := helpOf(t, pair[0])
			for _, f := range usageFlags(pair[1]) {
				if flags[f] == nil {
					t.Errorf("README: ditkit %s %s: no such flag", pair[0], dash(f))
				}
			}
		}
	}
	if seen < len(commands) {
		t.Errorf("README's CLI reference has %d command headings for %d commands", seen, len(commands))
	}
}

// A port in use is said so, with how to pick another (--addr, or
// ./build.sh serve ADDR); nothing on stdout, exit 2.
func TestServeBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback here: %v", err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	code, out, errs := runCLI(t, "serve", "--addr", addr)
	if code != 2 || out != "" || strings.Count(errs, "\n") != 1 {
		t.Fatalf("serve on a busy port: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	for _, want := range []string{"ditkit: " + addr + " is already in use", "--addr 127.0.0.1:", "./build.sh serve 127.0.0.1:"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr %q lacks %q", errs, want)
		}
	}
	// a bare port is loopback's
	port := addr[strings.LastIndex(addr, ":")+1:]
	if code, _, errs := runCLI(t, "serve", "--addr", port); code != 2 || !strings.Contains(errs, "127.0.0.1:"+port+" is already in use") {
		t.Errorf("serve --addr %s: exit %d, %q", port, code, errs)
	}
	if code, _, errs := runCLI(t, "serve", "--addr", "nowhere"); code != 2 || !strings.Contains(errs, "want HOST:PORT") {
		t.Errorf("serve --addr nowhere: exit %d, %q", code, errs)
	}
}

func TestFlagErrorWording(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("steps", 0, "")
	for in, want := range map[string]string{
		"flag provided but not defined: -bogus":                    "unknown flag --bogus",
		"flag provided but not defined: -b":                        "unknown flag -b",
		"flag needs an argument: -o":                               "-o needs a value",
		`invalid value "x" for flag -steps: parse error`:           `--steps "x": want a whole number`,
		`invalid value "9e99" for flag -steps: value out of range`: `--steps "9e99": want a whole number in range`,
		"bad flag syntax: ---x":                                    "bad flag syntax: ---x",
	} {
		if got := flagError(fs, fmt.Errorf("%s", in)); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// Terminal safety. Every string from a file (tensor names, metadata,
// global names, zip entry names, and the error messages that quote them)
// is printed through term, and everything the CLI writes passes a
// termGuard: a terminal never receives a raw control character, escape
// sequence, bidi override or invalid UTF-8. --json output passes the
// guard unchanged in meaning: encoding/json already escapes control
// characters, and the guard writes what it rewrites as \uXXXX, which JSON
// decodes to the same text.

// unsafeRune reports whether r must not reach a terminal raw.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f: // C0, DEL, C1 controls
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	case r == 0x200e, r == 0x200f, r == 0x061c: // bidi marks
		return true
	}
	return false
}

// appendEscaped writes s to b with unsafe runes escaped, keeping the
// runes in keep (layout the CLI itself writes) raw.
func appendEscaped(b *strings.Builder, s string, keep string) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(b, `\x%02x`, s[i])
		case !unsafeRune(r) || strings.ContainsRune(keep, r):
			b.WriteString(s[i : i+n])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80:
			fmt.Fprintf(b, `\x%02x`, r)
		default:
			fmt.Fprintf(b, `\u%04x`, r)
		}
		i += n
	}
}

// term returns s safe to print on a terminal: control characters (line
// breaks and tabs included), escape sequences, bidi controls and invalid
// UTF-8 appear escaped.
func term(s string) string {
	clean := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || unsafeRune(r) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	appendEscaped(&b, s, "")
	return b.String()
}

// termGuard escapes, in everything written through it, what term escapes
// except line breaks and tabs (the CLI's own layout).
type termGuard struct {
	w    io.Writer
	pend []byte // an incomplete UTF-8 sequence at the end of the last write
}

func newTermGuard(w io.Writer) *termGuard { return &termGuard{w: w} }

func (g *termGuard) Write(p []byte) (int, error) {
	data := p
	if len(g.pend) > 0 {
		data = append(g.pend, p...)
		g.pend = nil
	}
	// keep a trailing partial rune for the next write
	if cut := partialTail(data); cut > 0 {
		g.pend = append([]byte(nil), data[len(data)-cut:]...)
		data = data[:len(data)-cut]
	}
	var b strings.Builder
	appendEscaped(&b, string(data), "\n\t\r")
	if _, err := io.WriteString(g.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes out a partial rune left by the last write, escaped.
func (g *termGuard) Flush() error {
	if len(g.pend) == 0 {
		return nil
	}
	var b strings.Builder
	appendEscaped(&b, string(g.pend), "")
	g.pend = nil
	_, err := io.WriteString(g.w, b.String())
	return err
}

// file is the terminal or file under the guard (for terminal checks).
func (g *termGuard) file() (*os.File, bool) {
	f, ok := g.w.(*os.File)
	return f, ok
}

// partialTail is the length of an incomplete but so far valid UTF-8
// sequence at the end of b (0 when there is none).
func partialTail(b []byte) int {
	for k := 1; k <= 3 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < 0x80 {
			return 0
		}
		if c >= 0xc0 { // a lead byte: is its sequence longer than what is here?
			need := 2
			if c >= 0xe0 {
				need = 3
			}
			if c >= 0xf0 {
				need = 4
			}
			if need > k && utf8.FullRune(b[len(b)-k:]) == false {
				return k
			}
			return 0
		}
	}
	return 0
}

//go:build js && wasm

// Package main is ditkit's GOOS=js entry point: it exposes window.ditkit, a
// promise-based JS API over the same core and loader code the CLI uses, with
// File/Blob-backed io.ReaderAt range reads.
package main

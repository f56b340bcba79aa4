// Package ui holds the page's vugu components. It is not a main package
// (generated with vugugen -skip-main), so it builds, vets and tests natively
// as well as for GOOS=js; the wasm entry point in ../wasm mounts Root.
package ui

//go:generate go tool vugugen -skip-go-mod -skip-main .

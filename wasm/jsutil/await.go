//go:build js && wasm

// Package jsutil holds the small Go ↔ JavaScript helpers the wasm packages share.
package jsutil

import (
	"errors"
	"syscall/js"
)

// Await blocks the calling goroutine until the promise settles. Never call
// it from inside a js.FuncOf callback: the runtime deadlocks ("all
// goroutines are asleep"); start a goroutine there and await in it.
func Await(promise js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	var then, catch js.Func
	then = js.FuncOf(func(this js.Value, args []js.Value) any {
		var v js.Value
		if len(args) > 0 {
			v = args[0]
		}
		ch <- result{v: v}
		return nil
	})
	catch = js.FuncOf(func(this js.Value, args []js.Value) any {
		msg := "promise rejected"
		if len(args) > 0 {
			msg = args[0].Call("toString").String()
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	promise.Call("then", then, catch)
	r := <-ch
	then.Release()
	catch.Release()
	return r.v, r.err
}

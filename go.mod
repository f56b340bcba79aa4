module github.com/ditkit/ditkit

go 1.26

require (
	github.com/nlpodyssey/gopickle v0.3.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
)

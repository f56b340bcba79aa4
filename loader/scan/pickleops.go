package scan

// Pickle opcodes (CPython's Lib/pickletools.py names them). The static
// walker here is the one place ditkit interprets opcodes: loader's
// unpickler runs gopickle over a pickle only after CheckPickle has walked
// it.
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opFloat          = 'F'
	opInt            = 'I'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opLong           = 'L'
	opBinInt2        = 'M'
	opNone           = 'N'
	opPersID         = 'P'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opString         = 'S'
	opBinString      = 'T'
	opShortBinString = 'U'
	opUnicode        = 'V'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opGet            = 'g'
	opBinGet         = 'h'
	opInst           = 'i'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opObj            = 'o'
	opPut            = 'p'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'

	// protocol 2
	opProto    = 0x80
	opNewObj   = 0x81
	opExt1     = 0x82
	opExt2     = 0x83
	opExt4     = 0x84
	opTuple1   = 0x85
	opTuple2   = 0x86
	opTuple3   = 0x87
	opNewTrue  = 0x88
	opNewFalse = 0x89
	opLong1    = 0x8a
	opLong4    = 0x8b

	// protocol 4
	opShortBinUnicode = 0x8c
	opBinUnicode8     = 0x8d
	opBinBytes8       = 0x8e
	opEmptySet        = 0x8f
	opAddItems        = 0x90
	opFrozenSet       = 0x91
	opNewObjEx        = 0x92
	opStackGlobal     = 0x93
	opMemoize         = 0x94
	opFrame           = 0x95

	// protocol 5
	opByteArray8     = 0x96
	opNextBuffer     = 0x97
	opReadOnlyBuffer = 0x98
)

// weightsOnlyOps are the opcodes PyTorch's weights_only unpickler accepts.
var weightsOnlyOps = func() [256]bool {
	var t [256]bool
	for _, c := range []byte{
		opGlobal, opNewObj, opReduce, opBuild, opAppend, opAppends, opSetItem, opSetItems, opMark,
		opTuple, opTuple1, opTuple2, opTuple3, opNone, opNewTrue, opNewFalse, opEmptyTuple, opEmptyList,
		opEmptyDict, opEmptySet, opAddItems, opBinInt, opBinInt1, opBinInt2, opBinFloat, opBinUnicode,
		opBinUnicode8, opBinBytes, opBinBytes8, opShortBinBytes, opShortBinString, opBinPersID, opBinPut,
		opLongBinPut, opBinGet, opLongBinGet, opLong1, opProto, opStop,
	} {
		t[c] = true
	}
	return t
}()

// opNames names the opcodes findings mention: those outside weightsOnlyOps.
var opNames = map[byte]string{
	opPop: "POP", opPopMark: "POP_MARK", opDup: "DUP", opFloat: "FLOAT", opInt: "INT", opLong: "LONG",
	opPersID: "PERSID", opString: "STRING", opBinString: "BINSTRING", opUnicode: "UNICODE", opDict: "DICT",
	opGet: "GET", opInst: "INST", opList: "LIST", opObj: "OBJ", opPut: "PUT",
	opExt1: "EXT1", opExt2: "EXT2", opExt4: "EXT4", opLong4: "LONG4", opShortBinUnicode: "SHORT_BINUNICODE",
	opFrozenSet: "FROZENSET", opNewObjEx: "NEWOBJ_EX", opStackGlobal: "STACK_GLOBAL", opMemoize: "MEMOIZE",
	opFrame: "FRAME", opByteArray8: "BYTEARRAY8", opNextBuffer: "NEXT_BUFFER", opReadOnlyBuffer: "READONLY_BUFFER",
}

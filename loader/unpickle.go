package loader

import (
	"bytes"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/scan"
	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// Object is an inert stand-in for an instance of a Python class the pickle
// names (argparse.Namespace, or anything else): its constructor arguments and
// state are kept as data; nothing is ever executed.
type Object struct {
	Module, Name string
	Args         []any
	State        any            // BUILD state
	Dict         map[string]any // attributes set via BUILD with a dict state
	keys         []string       // Dict keys in insertion order
}

func (o *Object) String() string { return o.Module + "." + o.Name }

// Call makes Object usable as a REDUCE target: it never runs anything.
func (o *Object) Call(args ...any) (any, error) {
	return &Object{Module: o.Module, Name: o.Name, Args: args}, nil
}

// PyNew is the NEWOBJ/OBJ path.
func (o *Object) PyNew(args ...any) (any, error) { return o.Call(args...) }

// PySetState records BUILD state; dict states become attributes.
func (o *Object) PySetState(state any) error {
	o.State = state
	if st, ok := state.(*types.Tuple); ok && st.Len() == 2 { // (state, slotstate)
		state = st.Get(0)
		if state == nil {
			state = st.Get(1)
		}
	}
	switch d := state.(type) {
	case *types.Dict:
		for _, e := range *d {
			o.set(keyString(e.Key), e.Value)
		}
	case map[any]any:
		for k, v := range d {
			o.set(keyString(k), v)
		}
	}
	return nil
}

// PyDictSet is used by SETITEM on objects that behave like dicts.
func (o *Object) PyDictSet(key, value any) error { o.set(keyString(key), value); return nil }

func (o *Object) set(k string, v any) {
	if o.Dict == nil {
		o.Dict = map[string]any{}
	}
	if _, ok := o.Dict[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.Dict[k] = v
}

// Keys returns attribute names in the order they were set.
func (o *Object) Keys() []string { return o.keys }

// storageClass is what torch.<X>Storage resolves to.
type storageClass struct {
	dtype   tensor.DType
	untyped bool
	name    string
}

func (s *storageClass) Call(args ...any) (any, error) {
	return nil, fmt.Errorf("%s cannot be called", s.name)
}

// dtypeValue is what torch.float32 etc. resolve to (for _rebuild_tensor_v3).
type dtypeValue struct{ dtype tensor.DType }

// storageRef is the result of a persistent load: a storage not yet read.
type storageRef struct {
	class *storageClass
	key   string
	numel int64
	// resolved lazily by the container format
	storage *Storage
	view    *viewMeta // legacy storage views
}

type viewMeta struct {
	key    string
	offset int64
	size   int64
}

// tensorRef is an unpickled tensor, before naming.
type tensorRef struct {
	t     *Tensor
	ref   *storageRef
	dtype tensor.DType
	kind  string // "" for dense; "sparse", "quantized"... for unsupported kinds
}

type callFunc func(args ...any) (any, error)

func (f callFunc) Call(args ...any) (any, error) { return f(args...) }

// unpickler parses one pickle with an allow-list FindClass and a
// PersistentLoad that records storage references without reading them.
type unpickler struct {
	file     string
	refs     []*storageRef
	legacy   bool
	tensorsN int
}

func (u *unpickler) findClass(module, name string) (any, error) {
	full := module + "." + name
	switch full {
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		return callFunc(u.rebuildTensorV2), nil
	case "torch._utils._rebuild_tensor_v3":
		return callFunc(u.rebuildTensorV3), nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		return callFunc(func(args ...any) (any, error) {
			if len(args) < 1 {
				return nil, fmt.Errorf("%s: no arguments", full)
			}
			return args[0], nil
		}), nil
	case "torch.nn.parameter.Parameter":
		return callFunc(func(args ...any) (any, error) {
			if len(args) < 1 {
				return nil, fmt.Errorf("%s: no arguments", full)
			}
			return args[0], nil
		}), nil
	case "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_qtensor", "torch._utils._rebuild_meta_tensor_no_storage",
		"torch._utils._rebuild_nested_tensor", "torch._utils._rebuild_wrapper_subclass", "torch._utils._rebuild_device_tensor_from_numpy":
		kind := strings.TrimPrefix(name, "_rebuild_")
		return callFunc(func(args ...any) (any, error) { return &tensorRef{kind: kind}, nil }), nil
	case "torch.Size":
		return callFunc(func(args ...any) (any, error) {
			if len(args) == 1 {
				return args[0], nil
			}
			return types.NewTupleFromSlice(args), nil
		}), nil
	case "torch.device":
		return callFunc(func(args ...any) (any, error) {
			if len(args) == 1 {
				return keyString(args[0]), nil
			}
			return short(types.NewTupleFromSlice(args)), nil
		}), nil
	case "_codecs.encode":
		return callFunc(codecsEncode), nil
	case "builtins.set", "builtins.frozenset", "__builtin__.set":
		return callFunc(func(args ...any) (any, error) {
			if len(args) == 1 {
				return args[0], nil
			}
			return types.NewList(), nil
		}), nil
	case "builtins.bytearray", "builtins.bytes":
		return callFunc(func(args ...any) (any, error) {
			if len(args) >= 1 {
				if b, ok := args[0].([]byte); ok {
					return b, nil
				}
			}
			return []byte{}, nil
		}), nil
	}
	if module == "torch" {
		if name == "UntypedStorage" {
			return &storageClass{untyped: true, dtype: tensor.U8, name: full}, nil
		}
		if dt, ok := scan.StorageDType(name); ok {
			return &storageClass{dtype: dt, name: full}, nil
		}
		if scan.IsTorchDType(name) {
			dt, err := tensor.ParseDType(name)
			if err == nil {
				return &dtypeValue{dt}, nil
			}
		}
	}
	// Everything else — benign data holders and dangerous callables alike —
	// becomes an inert Object. The static scan has already judged it.
	return &Object{Module: module, Name: name}, nil
}

func codecsEncode(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("_codecs.encode: no arguments")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("_codecs.encode: argument is %T, not str", args[0])
	}
	enc := "utf-8"
	if len(args) > 1 {
		if e, ok := args[1].(string); ok {
			enc = strings.ToLower(e)
		}
	}
	if enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1" {
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 255 {
				return nil, fmt.Errorf("_codecs.encode: character %U is not latin-1", r)
			}
			b = append(b, byte(r))
		}
		return b, nil
	}
	return []byte(s), nil
}

func (u *unpickler) persistentLoad(pid any) (any, error) {
	tup, ok := pid.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("persistent id is %T, not a tuple", pid)
	}
	if tup.Len() < 5 {
		return nil, fmt.Errorf("persistent id has %d fields, want ≥ 5", tup.Len())
	}
	if tag, _ := tup.Get(0).(string); tag != "storage" {
		return nil, fmt.Errorf("persistent id kind %s is not 'storage'", short(tup.Get(0)))
	}
	cls, ok := tup.Get(1).(*storageClass)
	if !ok {
		return nil, fmt.Errorf("persistent id names storage type %s, which is not a torch storage class", short(tup.Get(1)))
	}
	key := keyString(tup.Get(2))
	numel, err := toInt64(tup.Get(4))
	if err != nil || numel < 0 {
		return nil, fmt.Errorf("storage %q: bad element count %s", key, short(tup.Get(4)))
	}
	ref := &storageRef{class: cls, key: key, numel: numel}
	if u.legacy && tup.Len() >= 6 && tup.Get(5) != nil {
		vm, ok := tup.Get(5).(*types.Tuple)
		if !ok || vm.Len() < 3 {
			return nil, fmt.Errorf("storage %q: bad view metadata", key)
		}
		off, err1 := toInt64(vm.Get(1))
		sz, err2 := toInt64(vm.Get(2))
		if err1 != nil || err2 != nil || off < 0 || sz < 0 {
			return nil, fmt.Errorf("storage %q: bad view metadata", key)
		}
		ref.view = &viewMeta{key: keyString(vm.Get(0)), offset: off, size: sz}
	}
	u.refs = append(u.refs, ref)
	return ref, nil
}

func (u *unpickler) rebuildTensorV2(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %d arguments, want ≥ 4", len(args))
	}
	ref, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage argument is %T", args[0])
	}
	return u.makeTensor(ref, ref.class.dtype, args[1], args[2], args[3])
}

func (u *unpickler) rebuildTensorV3(args ...any) (any, error) {
	if len(args) < 7 {
		return nil, fmt.Errorf("_rebuild_tensor_v3: %d arguments, want 7", len(args))
	}
	ref, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v3: storage argument is %T", args[0])
	}
	dv, ok := args[6].(*dtypeValue)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v3: dtype argument is %T", args[6])
	}
	return u.makeTensor(ref, dv.dtype, args[1], args[2], args[3])
}

func (u *unpickler) makeTensor(ref *storageRef, dt tensor.DType, off, size, stride any) (any, error) {
	o, err := toInt64(off)
	if err != nil {
		return nil, fmt.Errorf("tensor storage offset: %v", err)
	}
	shape, err := toInts(size)
	if err != nil {
		return nil, fmt.Errorf("tensor size: %v", err)
	}
	strides, err := toInts(stride)
	if err != nil {
		return nil, fmt.Errorf("tensor stride: %v", err)
	}
	if len(shape) != len(strides) {
		return nil, fmt.Errorf("tensor size %v and stride %v differ in rank", shape, strides)
	}
	if _, err := tensor.Numel(shape); err != nil {
		return nil, err
	}
	u.tensorsN++
	return &tensorRef{t: &Tensor{DType: dt, Shape: shape, Strides: strides, Offset: o}, ref: ref, dtype: dt}, nil
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), nil
		}
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("%s (%T) is not an integer", short(v), v)
}

func toInts(v any) ([]int, error) {
	var items []any
	switch x := v.(type) {
	case *types.Tuple:
		items = *x
	case *types.List:
		items = *x
	default:
		return nil, fmt.Errorf("%T is not a tuple", v)
	}
	out := make([]int, len(items))
	for i, it := range items {
		n, err := toInt64(it)
		if err != nil || n < 0 || n > 1<<53 {
			return nil, fmt.Errorf("bad dimension %s", short(it))
		}
		out[i] = int(n)
	}
	return out, nil
}

func keyString(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case *big.Int:
		return x.String()
	case []byte:
		return string(x)
	case nil:
		return "None"
	}
	return short(k)
}

// short renders an unpickled value for a name or a message in at most
// about 200 bytes. Values can share containers level upon level (a
// "billion laughs" pickle): fmt's %v would walk every path, short visits
// at most a bounded number of items.
func short(v any) string {
	var b strings.Builder
	budget := 64 // items still to render
	var put func(v any, depth int)
	put = func(v any, depth int) {
		budget--
		if budget < 0 || b.Len() > 200 || depth > 8 {
			b.WriteString("…")
			return
		}
		var items []any
		open, close := "(", ")"
		switch x := v.(type) {
		case *types.Tuple:
			items = *x
		case *types.List:
			items, open, close = *x, "[", "]"
		case *types.Dict:
			b.WriteString("{…}")
			return
		case *types.OrderedDict, *Object, *tensorRef, *storageRef:
			fmt.Fprintf(&b, "<%T>", x)
			return
		case string:
			b.WriteString(strconv.Quote(x[:min(len(x), 64)]))
			return
		case []byte:
			b.WriteString(strconv.Quote(string(x[:min(len(x), 64)])))
			return
		case int, int64, int32, bool, float64, nil:
			fmt.Fprint(&b, x)
			return
		case *big.Int:
			b.WriteString(x.String())
			return
		default:
			fmt.Fprintf(&b, "<%T>", x)
			return
		}
		b.WriteString(open)
		for i, it := range items {
			if i > 0 {
				b.WriteString(", ")
			}
			if budget <= 0 || b.Len() > 200 {
				b.WriteString("…")
				break
			}
			put(it, depth+1)
		}
		b.WriteString(close)
	}
	put(v, 0)
	return b.String()
}

// unpickle runs gopickle over one already-scanned pickle, turning library
// panics into errors.
func (u *unpickler) unpickle(data []byte, label string) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, ferr(u.file, ErrCorrupt, "pickle "+label, "malformed pickle: %v", p)
		}
	}()
	up := pickle.NewUnpickler(bytes.NewReader(data))
	up.FindClass = u.findClass
	up.PersistentLoad = u.persistentLoad
	up.GetExtension = func(code int) (any, error) {
		return &Object{Module: "copyreg", Name: "extension " + strconv.Itoa(code)}, nil
	}
	v, err = up.Load()
	if err != nil {
		return nil, ferr(u.file, ErrCorrupt, "pickle "+label, "%v", err)
	}
	return v, nil
}

// collectTensors walks the container tree in order and names every tensor
// by joining container keys with '/'.
func collectTensors(root any, visit func(name string, tr *tensorRef) error) error {
	seen := map[any]bool{}
	var walk func(prefix string, v any, depth int) error
	join := func(p, k string) string {
		if p == "" {
			return k
		}
		return p + "/" + k
	}
	// items walks a list's or tuple's elements, named by index.
	items := func(prefix string, container any, xs []any, depth int) error {
		if seen[container] {
			return nil
		}
		seen[container] = true
		for i, it := range xs {
			if err := walk(join(prefix, strconv.Itoa(i)), it, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	walk = func(prefix string, v any, depth int) error {
		if depth > 200 {
			return fmt.Errorf("containers nested deeper than 200 levels at %q", prefix)
		}
		switch x := v.(type) {
		case *tensorRef:
			return visit(prefix, x)
		case *types.OrderedDict:
			if seen[x] {
				return nil
			}
			seen[x] = true
			for e := x.List.Front(); e != nil; e = e.Next() {
				ent := e.Value.(*types.OrderedDictEntry)
				if err := walk(join(prefix, keyString(ent.Key)), ent.Value, depth+1); err != nil {
					return err
				}
			}
		case *types.Dict:
			if seen[x] {
				return nil
			}
			seen[x] = true
			for _, ent := range *x {
				if err := walk(join(prefix, keyString(ent.Key)), ent.Value, depth+1); err != nil {
					return err
				}
			}
		case *types.List:
			return items(prefix, x, *x, depth)
		case *types.Tuple:
			return items(prefix, x, *x, depth)
		case *Object:
			if seen[x] {
				return nil
			}
			seen[x] = true
			for _, k := range x.keys {
				if err := walk(join(prefix, k), x.Dict[k], depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk("", root, 0)
}

// buildTensors names the tensors of an unpickled tree and binds their storages.
func buildTensors(file string, root any, bind func(ref *storageRef, dt tensor.DType) (*Storage, error)) ([]*Tensor, []string, error) {
	var out []*Tensor
	var notes []string
	err := collectTensors(root, func(name string, tr *tensorRef) error {
		if tr.kind != "" {
			notes = append(notes, fmt.Sprintf("%q is a %s tensor: reported, not converted", name, tr.kind))
			return nil
		}
		st, err := bind(tr.ref, tr.dtype)
		if err != nil {
			return ferr(file, ErrCorrupt, fmt.Sprintf("tensor %q", name), "%v", err)
		}
		t := *tr.t
		t.Name = name
		t.Storage = st
		if err := t.check(file); err != nil {
			return err
		}
		out = append(out, &t)
		return nil
	})
	return out, notes, err
}

// sortedKeys is a small helper for deterministic reports.
func sortedKeys[M ~map[string]V, V any](m M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// PySetState accepts BUILD on a tensor (Python attributes set on it); they
// are ignored, the tensor data is what matters.
func (t *tensorRef) PySetState(state any) error { return nil }

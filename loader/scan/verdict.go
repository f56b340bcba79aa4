package scan

import "strings"

// Verdicts, from best to worst.
const (
	VerdictSafe      = "safe"      // on PyTorch's weights_only allow-list
	VerdictBenign    = "benign"    // plain data holder, but weights_only=True refuses it
	VerdictUnknown   = "unknown"   // not known: treated as suspicious
	VerdictDangerous = "dangerous" // can run code in the user's torch.load
)

var verdictRank = map[string]int{VerdictSafe: 0, VerdictBenign: 1, VerdictUnknown: 2, VerdictDangerous: 3}

// WorstVerdict returns the worse of two verdicts.
func WorstVerdict(a, b string) string {
	if verdictRank[b] > verdictRank[a] {
		return b
	}
	return a
}

var safeGlobals = map[string]bool{
	"collections.OrderedDict":                        true,
	"torch._utils._rebuild_tensor":                   true,
	"torch._utils._rebuild_tensor_v2":                true,
	"torch._utils._rebuild_tensor_v3":                true,
	"torch._utils._rebuild_parameter":                true,
	"torch._utils._rebuild_parameter_with_state":     true,
	"torch._utils._rebuild_sparse_tensor":            true,
	"torch._utils._rebuild_meta_tensor_no_storage":   true,
	"torch._utils._rebuild_nested_tensor":            true,
	"torch._utils._rebuild_qtensor":                  true,
	"torch._utils._rebuild_wrapper_subclass":         true,
	"torch._utils._rebuild_device_tensor_from_numpy": true,
	"torch.Size":                          true,
	"torch.device":                        true,
	"torch.nn.parameter.Parameter":        true,
	"torch._tensor._rebuild_from_type_v2": true,
	"torch.serialization._get_layout":     true,
	"_codecs.encode":                      true,
	"builtins.set":                        true,
	"builtins.frozenset":                  true,
	"builtins.bytearray":                  true,
	"builtins.complex":                    true,
	"builtins.bytes":                      true,
	"builtins.slice":                      true,
	"builtins.range":                      true,
	"__builtin__.set":                     true,
	"numpy.core.multiarray._reconstruct":  true,
	"numpy._core.multiarray._reconstruct": true,
	"numpy.dtype":                         true,
	"numpy.ndarray":                       true,
	"numpy.core.multiarray.scalar":        true,
	"numpy._core.multiarray.scalar":       true,
}

var benignGlobals = map[string]bool{
	"argparse.Namespace":               true,
	"types.SimpleNamespace":            true,
	"collections.defaultdict":          true,
	"omegaconf.dictconfig.DictConfig":  true,
	"omegaconf.listconfig.ListConfig":  true,
	"omegaconf.base.ContainerMetadata": true,
	"omegaconf.base.Metadata":          true,
	"omegaconf.nodes.AnyNode":          true,
	"typing.Any":                       true,
	"builtins.dict":                    true,
	"builtins.list":                    true,
	"builtins.tuple":                   true,
	"builtins.int":                     true,
	"builtins.float":                   true,
	"builtins.str":                     true,
	"builtins.object":                  true,
	"__builtin__.object":               true,
	"copy_reg._reconstructor":          true,
	"copyreg._reconstructor":           true,
	"pathlib.PosixPath":                true,
	"pathlib.WindowsPath":              true,
	"datetime.datetime":                true,
	"datetime.date":                    true,
	"datetime.timedelta":               true,
	"decimal.Decimal":                  true,
	"collections.deque":                true,
	"collections.Counter":              true,
	"collections.ChainMap":             true,
	"collections.UserDict":             true,
	"collections.UserList":             true,
	"collections.UserString":           true,
}

// pureBuiltins are builtins that only compute a value from their
// arguments: called inside pickle.load they cannot reach code the pickle
// does not already name (a function argument must itself be a global, and
// is judged as one). getattr, eval, open, __import__, print, vars ... are
// not among them.
var pureBuiltins = map[string]bool{
	"abs": true, "all": true, "any": true, "ascii": true, "bin": true, "bool": true, "callable": true,
	"chr": true, "divmod": true, "enumerate": true, "filter": true, "format": true, "hash": true, "hex": true,
	"id": true, "isinstance": true, "issubclass": true, "iter": true, "len": true, "map": true, "max": true,
	"min": true, "next": true, "oct": true, "ord": true, "pow": true, "repr": true, "reversed": true,
	"round": true, "sorted": true, "sum": true, "zip": true, "NotImplemented": true, "Ellipsis": true,
	"BaseException": true, "Exception": true, "StopIteration": true,
}

// harmlessModules hold only data, constants and abstract classes: any
// plain (undotted) name in them is benign.
var harmlessModules = map[string]bool{
	"__future__":       true, // _Feature records (division, annotations ...)
	"collections.abc":  true, // abstract base classes
	"_collections_abc": true,
}

var dangerousModules = []string{
	"os", "posix", "nt", "sys", "subprocess", "socket", "shutil", "runpy", "pty",
	"importlib", "marshal", "ctypes", "pickle", "_pickle", "cPickle", "dill", "webbrowser", "code",
	"pdb", "bdb", "cProfile", "profile", "pydoc", "multiprocessing", "asyncio", "threading",
	"torch._inductor", "torch.hub", "torch.jit", "torch._dynamo", "torch.utils.cpp_extension", "torch.package",
	"timeit", "trace", "requests", "urllib", "http", "ftplib", "smtplib", "telnetlib", "tempfile",
	"signal", "glob", "platform", "commands", "popen2", "ensurepip", "pip", "setuptools", "distutils",
	"venv", "zipimport", "imp", "_posixsubprocess", "_io", "io", "uuid", "operator", "functools",
	"joblib", "numpy.testing", "builtins.__import__", "_thread", "xmlrpc", "sqlite3", "shelve", "dbm",
	"linecache", "doctest", "idlelib", "lib2to3", "tkinter", "turtle", "ssl", "_ssl", "select", "selectors",
	// further gadgets named in picklescan/fickling/modelscan advisories
	"_operator", "_functools", "_ctypes", "cffi", "codeop", "concurrent", "pkgutil", "site", "logging.config",
	"imaplib", "nntplib", "poplib", "socketserver", "asynchat", "asyncore", "_socket", "aiohttp", "httpx",
	"_winapi", "msvcrt", "winreg", "_winreg", "cloudpickle", "jsonpickle", "pandas.read_pickle", "pandas.io.pickle",
	"numpy.f2py", "numpy.distutils", "numpy.ctypeslib", "numpy.lib.npyio", "torch.fx", "torch.distributed",
	"torch.testing", "torch.utils.bottleneck", "torch.utils.collect_env", "torch.utils.data", "torch.export",
	"torch._export", "torch.compiler", "torch.onnx", "torch._functorch", "torch.utils._config_module",
	"torch.ops", "torch._ops", "torch._C._jit", "keras", "tensorflow", "unittest.mock", "builtins.getattr",
	// helpers that run shell commands or interpreters, and the scanners
	// themselves (a pickle that switches a scanner's hooks off is the first
	// half of an attack)
	"_aix_support", "_osx_support", "_pyrepl", "test.support", "_interpreters", "_xxsubinterpreters",
	"_xxinterpchannels", "_interpchannels", "_interpqueues", "interpreters", "logging.handlers", "torch.compile",
	"fickling", "picklescan", "modelscan", "modelaudit", "saferpickle", "model_unpickler",
}

var dangerousNames = map[string]bool{
	"builtins.eval": true, "builtins.exec": true, "builtins.compile": true, "builtins.open": true,
	"builtins.getattr": true, "builtins.setattr": true, "builtins.delattr": true, "builtins.__import__": true,
	"builtins.breakpoint": true, "builtins.input": true, "builtins.globals": true, "builtins.locals": true,
	"builtins.vars": true, "builtins.help": true, "builtins.memoryview": true, "builtins.type": true,
	"builtins.super": true, "builtins.apply": true, "builtins.execfile": true, "builtins.exit": true, "builtins.quit": true,
	"__builtin__.eval": true, "__builtin__.exec": true, "__builtin__.compile": true, "__builtin__.open": true,
	"__builtin__.getattr": true, "__builtin__.__import__": true, "__builtin__.execfile": true, "__builtin__.file": true,
	"__builtin__.apply": true, "__builtin__.setattr": true, "__builtin__.input": true,
	"types.CodeType": true, "types.FunctionType": true, "types.MethodType": true, "types.ModuleType": true, "types.LambdaType": true,
	"torch.serialization.load": true, "torch.load": true, "torch.save": true, "torch.hub.load": true,
	"numpy.load": true, "numpy.fromfile": true, "numpy.save": true,
	"logging.FileHandler": true, "logging.basicConfig": true, // open (and truncate) files for writing
	"torch.compile":                  true,
	"torch.storage._load_from_bytes": true,
}

// py2Modules maps Python 2 module names to what Python 3's unpickler imports
// instead (pickle's fix_imports, _compat_pickle.IMPORT_MAPPING): a verdict
// must follow the module that actually gets imported.
var py2Modules = map[string]string{
	"__builtin__": "builtins", "exceptions": "builtins", "copy_reg": "copyreg", "cPickle": "pickle",
	"commands": "subprocess", "cStringIO": "io", "StringIO": "io", "thread": "_thread", "dummy_thread": "_dummy_thread",
	"urllib2": "urllib.request", "urlparse": "urllib.parse", "robotparser": "urllib.robotparser", "httplib": "http.client",
	"cookielib": "http.cookiejar", "Cookie": "http.cookies", "BaseHTTPServer": "http.server", "SimpleHTTPServer": "http.server",
	"CGIHTTPServer": "http.server", "xmlrpclib": "xmlrpc.client", "SimpleXMLRPCServer": "xmlrpc.server",
	"UserDict": "collections", "UserList": "collections", "UserString": "collections", "Queue": "queue", "repr": "reprlib",
	"ConfigParser": "configparser", "SocketServer": "socketserver", "Tkinter": "tkinter", "anydbm": "dbm", "whichdb": "dbm",
	"dbhash": "dbm.bsd", "dumbdbm": "dbm.dumb", "gdbm": "dbm.gnu", "markupbase": "_markupbase", "_winreg": "winreg",
}

var py2Names = map[string][2]string{
	"__builtin__.reduce": {"functools", "reduce"}, "__builtin__.intern": {"sys", "intern"},
	"__builtin__.xrange": {"builtins", "range"}, "__builtin__.unicode": {"builtins", "str"},
	"__builtin__.long": {"builtins", "int"}, "__builtin__.unichr": {"builtins", "chr"},
	"__builtin__.basestring": {"builtins", "str"}, "__builtin__.raw_input": {"builtins", "input"},
	"__builtin__.execfile": {"builtins", "exec"}, "itertools.izip": {"builtins", "zip"},
	"itertools.imap": {"builtins", "map"}, "itertools.ifilter": {"builtins", "filter"},
}

// GlobalVerdict classifies one global a pickle names. Python 2 names are mapped
// as Python 3's unpickler maps them, and dotted names (protocol 4 resolves
// them attribute by attribute) are judged on every module/attribute split.
func GlobalVerdict(module, name string) string {
	if m, ok := py2Names[module+"."+name]; ok {
		module, name = m[0], m[1]
	} else if m, ok := py2Modules[module]; ok {
		module = m
	}
	if module == "" || name == "" {
		return VerdictUnknown
	}
	for i, part := range strings.Split(module+"."+name, ".") {
		if len(part) > 4 && strings.HasPrefix(part, "__") && strings.HasSuffix(part, "__") &&
			part != "__builtin__" && part != "__main__" && part != "__import__" && !(i == 0 && part == "__future__") {
			// __globals__, __subclasses__, __builtins__, __class__ ...: attribute
			// traversal out of an innocent-looking object.
			return VerdictDangerous
		}
	}
	v := verdict1(module, name)
	if !strings.Contains(name, ".") {
		return v
	}
	// "a.b.c" under module m reaches m.a.b.c; judge each split and never
	// call a dotted path safe unless it is listed whole.
	if v == VerdictSafe || v == VerdictBenign {
		v = VerdictUnknown
	}
	parts := strings.Split(name, ".")
	for i := 1; i < len(parts); i++ {
		mod := module + "." + strings.Join(parts[:i], ".")
		v = WorstVerdict(v, verdict1(mod, strings.Join(parts[i:], ".")))
		v = WorstVerdict(v, verdict1(parts[i-1], parts[i]))
	}
	return v
}

func verdict1(module, name string) string {
	full := module + "." + name
	if safeGlobals[full] {
		return VerdictSafe
	}
	if dangerousNames[full] {
		return VerdictDangerous
	}
	if module == "torch" && !strings.Contains(name, ".") && (isTorchStorage(name) || IsTorchDType(name) || torchConstants[name]) {
		return VerdictSafe
	}
	if module == "numpy.dtypes" && !strings.Contains(name, ".") && strings.HasSuffix(name, "DType") {
		return VerdictSafe
	}
	if module == "torch.serialization" || module == "torch.storage" {
		return VerdictDangerous // load, _load, _legacy_load, _load_from_bytes ... (_get_layout is listed safe)
	}
	for _, m := range dangerousModules {
		if module == m || strings.HasPrefix(module, m+".") {
			return VerdictDangerous
		}
	}
	if module == "builtins" || module == "__builtin__" {
		if benignGlobals[full] || pureBuiltins[name] || isExceptionName(name) {
			return VerdictBenign
		}
		return VerdictDangerous
	}
	if harmlessModules[module] && !strings.Contains(name, ".") {
		return VerdictBenign
	}
	if benignGlobals[full] {
		return VerdictBenign
	}
	return VerdictUnknown
}

// Verdict returns the file's verdict: the worst of its globals and findings.
func (r *PickleReport) Verdict() string {
	if r == nil {
		return VerdictSafe
	}
	v := VerdictSafe
	for _, g := range r.Globals {
		v = WorstVerdict(v, g.Verdict)
	}
	for _, f := range r.Issues {
		v = WorstVerdict(v, f.Verdict())
	}
	return v
}

// UniqueGlobals returns each distinct module.name once with its worst verdict, in first-seen order.
func (r *PickleReport) UniqueGlobals() []Global {
	if r == nil {
		return nil
	}
	idx := map[string]int{}
	var out []Global
	for _, g := range r.Globals {
		k := g.FullName()
		if i, ok := idx[k]; ok {
			out[i].Called = out[i].Called || g.Called
			out[i].Verdict = WorstVerdict(out[i].Verdict, g.Verdict)
			continue
		}
		idx[k] = len(out)
		out = append(out, g)
	}
	return out
}

// isExceptionName reports whether a builtins name is an exception or
// warning class (ValueError, UserWarning ...): pickled exceptions name them.
func isExceptionName(name string) bool {
	for _, suf := range []string{"Error", "Exception", "Warning"} {
		if strings.HasSuffix(name, suf) && len(name) > len(suf) && name[0] >= 'A' && name[0] <= 'Z' {
			return true
		}
	}
	return false
}

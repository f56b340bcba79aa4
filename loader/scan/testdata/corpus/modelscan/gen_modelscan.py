"""Write the pickle, zip, NumPy and PyTorch fixtures of modelscan's tests.

Usage: python3 gen_modelscan.py MODELSCAN_CHECKOUT OUTDIR

The classes and byte strings below are modelscan's own (tests/test_modelscan.py
and tests/test_utils.py of protectai/modelscan), run here without pytest:
pickle.dump only records the callable each __reduce__ names, it never calls
it, and nothing here unpickles a payload. Files modelscan copies from its
tests/data folder are copied byte for byte. Left out: the dill files (no
dill here), and the Keras/TensorFlow models (no TensorFlow; they hold no
pickles).
"""

import bdb
import http.client
import os
import pickle
import shutil
import socket
import struct
import subprocess
import sys
import types
import zipfile

checkout, out = sys.argv[1], sys.argv[2]
data = os.path.join(out, "data")
os.makedirs(data, exist_ok=True)

# aiohttp is not installed: a stand-in module with the same names pickles
# to the same bytes (pickle writes __module__ and __qualname__).
if "aiohttp" not in sys.modules:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        client = types.ModuleType("aiohttp.client")

        class ClientSession:
            pass

        ClientSession.__module__ = "aiohttp.client"
        client.ClientSession = ClientSession
        pkg = types.ModuleType("aiohttp")
        pkg.client, pkg.ClientSession = client, ClientSession
        sys.modules["aiohttp"], sys.modules["aiohttp.client"] = pkg, client
import aiohttp  # noqa: E402
import requests  # noqa: E402


class Malicious1:
    def __reduce__(self):
        return eval, ("print('456')",)


class Malicious2:
    def __reduce__(self):
        return os.system, ("ls -la",)


class Malicious3:
    def __reduce__(self):
        return http.client.HTTPSConnection, ("github.com",)


malicious3_pickle_bytes = pickle.dumps(Malicious3(), protocol=0)


class Malicious4:
    def __reduce__(self):
        return requests.get, ("https://github.com",)


class Malicious5:
    def __reduce__(self):
        return aiohttp.ClientSession, tuple()


class Malicious6:
    def __reduce__(self):
        return socket.create_connection, (("github.com", 80),)


class Malicious7:
    def __reduce__(self):
        return subprocess.run, (["ls", "-l"],)


class Malicious8:
    def __reduce__(self):
        return sys.exit, (0,)


class Malicious15:
    def __reduce__(self):
        bd = bdb.Bdb()
        return bdb.Bdb.run, (bd, 'import os\nos.system("whoami")')


def malicious12_gen():
    p = pickle.PROTO + b"\x05"
    p += pickle.GLOBAL + b"pickle\nloads\n"
    p2 = (pickle.PROTO + b"\x05" + pickle.GLOBAL + b"os\nsystem\n" + pickle.UNICODE + b"echo pwned!!!\n"
          + pickle.TUPLE1 + pickle.REDUCE + pickle.STOP)
    p += pickle.BINBYTES + len(p2).to_bytes(4, "little") + p2
    p += pickle.TUPLE1
    p += pickle.REDUCE
    p += pickle.POP
    p += pickle.NONE
    p += pickle.STOP
    return p


def malicious13_gen():
    p = pickle.PROTO + b"\x05"
    p += pickle.GLOBAL + b"builtins\neval.__call__\n"
    p += pickle.UNICODE + b'__import__("os").system("echo pwned!!!")\n'
    p += pickle.TUPLE1
    p += pickle.REDUCE
    p += pickle.STOP
    return p


def stackglobal_flag(tail=b""):
    return b"".join([
        pickle.UNICODE + b"os\n", pickle.PUT + b"2\n", pickle.POP,
        pickle.UNICODE + b"system\n", pickle.PUT + b"3\n", pickle.POP,
        pickle.UNICODE + b"torch\n", pickle.PUT + b"0\n", pickle.POP,
        pickle.UNICODE + b"LongStorage\n", pickle.PUT + b"1\n", pickle.POP,
        pickle.GET + b"2\n", pickle.GET + b"3\n", pickle.STACK_GLOBAL,
        pickle.MARK, pickle.UNICODE + b"cat flag.txt\n", pickle.TUPLE, pickle.REDUCE, pickle.STOP, tail,
    ])


def dump(path, obj, version):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=version)


def write(path, b):
    with open(path, "wb") as f:
        f.write(b)


def zip_one(path, name, b):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name, b)


# file_path fixture
for version in (0, 3, 4):
    dump(f"{data}/benign0_v{version}.pkl", ["a", "b", "c"], version)
    dump(f"{data}/malicious1_v{version}.pkl", Malicious1(), version)
    dump(f"{data}/malicious2_v{version}.pkl", Malicious2(), version)
write(f"{data}/malicious0.pkl",
      b'c__builtin__\nglobals\n(tRp100\n0c__builtin__\ncompile\n(S\'fl=open("/etc/passwd");picklesmashed=fl.read();'
      + b"'\nS''\nS'exec'\ntRp101\n0c__builtin__\neval\n(g101\ng100\ntRp102\n0c__builtin__\ngetattr\n(c__builtin__\n"
      + b"dict\nS'get'\ntRp103\n0c__builtin__\napply\n(g103\n(g100\nS'picklesmashed'\nltRp104\n0g104\n.")
write(f"{data}/malicious3.pkl", malicious3_pickle_bytes)
dump(f"{data}/malicious4.pickle", Malicious4(), 4)
dump(f"{data}/malicious5.pickle", Malicious5(), 4)
write(f"{data}/malicious6.pkl", pickle.dumps(["a", "b", "c"]) + pickle.dumps(Malicious4()))
dump(f"{data}/malicious7.pkl", Malicious6(), 4)
dump(f"{data}/malicious8.pkl", Malicious7(), 4)
dump(f"{data}/malicious9.pkl", Malicious8(), 4)
dump(f"{data}/malicious15.pkl", Malicious15(), 4)
write(f"{data}/malicious11.pkl", stackglobal_flag())
zip_one(f"{data}/malicious1.zip", "data.pkl", pickle.dumps(Malicious1(), protocol=4))
write(f"{data}/malicious10.pkl", b"(S'print(\"Injection running\")'\ni__builtin__\nexec\n.")
write(f"{data}/malicious12.pkl", malicious12_gen())
write(f"{data}/malicious13.pkl", malicious13_gen())
write(f"{data}/malicious14.pkl", stackglobal_flag(b"\n\n\t\t"))
shutil.copy(os.path.join(checkout, "tests/data/password_protected.zip"), f"{data}/")

# zip_file_path fixture
zip_one(f"{out}/test.zip", "data.pkl", pickle.dumps(Malicious1(), protocol=4))

# pytorch_file_path fixture
write(f"{out}/bad_pytorch.pt", b"\211PNG\r\n\032\n")
import torch  # noqa: E402

state = torch.nn.Module().state_dict()
torch.save(state, f=f"{out}/safe_zip_pytorch.pt", _use_new_zipfile_serialization=True)
torch.save(state, f=f"{out}/safe_old_format_pytorch.pt", _use_new_zipfile_serialization=False)
shutil.copy(os.path.join(checkout, "tests/data/unsafe_zip_pytorch.pt"), out)

# numpy_file_path fixture: a safe array, and the same array pickled with an
# exec payload injected before it (test_utils.PickleInject, protocol 4)
import numpy as np  # noqa: E402

np.save(f"{out}/safe_numpy.npy", [[1, 2, 3], [4, 5, 6]])
safe = np.load(f"{out}/safe_numpy.npy")  # an int array: no pickle involved


class PickleInject:
    class _Pickler(pickle._Pickler):
        def __init__(self, file, protocol, inj_objs, first=True):
            super().__init__(file, protocol)
            self.inj_objs = inj_objs
            self.first = first

        def dump(self, obj):
            if self.proto >= 2:
                self.write(pickle.PROTO + struct.pack("<B", self.proto))
            if self.proto >= 4:
                self.framer.start_framing()
            if self.first:
                for inj_obj in self.inj_objs:
                    self.save(inj_obj)
            self.save(obj)
            if not self.first:
                for inj_obj in self.inj_objs:
                    self.save(inj_obj)
            self.write(pickle.STOP)
            self.framer.end_framing()

    class Exec:
        def __init__(self, args):
            self.command, self.args = exec, args

        def __reduce__(self):
            return self.command, (self.args,)


with open(f"{out}/unsafe_numpy.npy", "wb") as f:
    PickleInject._Pickler(f, 4, [PickleInject.Exec('print("Malicious code!")')]).dump(safe)
print("done", file=sys.stderr)

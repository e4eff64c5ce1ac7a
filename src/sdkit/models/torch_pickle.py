"""Read what a PyTorch checkpoint holds (tensor names, shapes, dtypes) without torch and without running code.

`torch.save` writes a pickle. Unpickling normally imports and calls whatever the file names, so a file
built to run code runs it. Here a restricted `pickle.Unpickler` answers every name the file asks for
from a short table of harmless stand-ins (the few torch functions that rebuild tensors, storage and
dtype names, plain containers) and refuses everything else before anything is called; the tensors'
data are never read, only the shape each rebuild call names. This is what `models list`, `models show`
and `generate --dry-run` use, so they need neither torch nor the time it takes to import it.

Two layouts are read:
- the zip archive `torch.save` has written since torch 1.6: `<prefix>/data.pkl` plus one record per
  storage under `<prefix>/data/`;
- the legacy stream (`_use_new_zipfile_serialization=False`): four pickles (magic number, protocol,
  system info, the object) followed by the storages.
Anything else (a plain pickle, torch's pre-1.0 tar format, a text file) is refused with a reason.

The table allows a subset of what `torch.load(weights_only=True)` allows, so a file accepted here is
accepted by the loader that later reads the weights.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ZIP_MAGIC = b"PK\x03\x04"
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
# A Stable Diffusion checkpoint's data.pkl is a few hundred kilobytes; a pickle beyond this is not one,
# and reading it would only cost memory.
MAX_PICKLE_BYTES = 64 * 1024 * 1024
MAX_DIMENSIONS = 32


class PickleProblem(Exception):
    """Why a checkpoint cannot be read. `unsafe`: it names code or objects that are not tensors."""

    def __init__(self, problem: str, unsafe: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.unsafe = unsafe


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the checkpoint describes it; its data stay in the file."""

    shape: tuple[int, ...]
    dtype: str  # torch's dtype name without "torch.", e.g. "float16"; "unknown" if the file does not say


# ------------------------------------------------------------------------------------------ stand-ins
_STORAGE_DTYPES = {
    "DoubleStorage": ("float64", 8), "FloatStorage": ("float32", 4), "HalfStorage": ("float16", 2),
    "BFloat16Storage": ("bfloat16", 2), "LongStorage": ("int64", 8), "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2), "CharStorage": ("int8", 1), "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1), "ComplexFloatStorage": ("complex64", 8), "ComplexDoubleStorage": ("complex128", 16),
    "UntypedStorage": ("uint8", 1),  # counted in bytes; the tensor's dtype comes with the rebuild call
}
_DTYPE_NAMES = frozenset({
    "float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
    "complex32", "complex64", "complex128", "uint16", "uint32", "uint64", "float8_e4m3fn", "float8_e5m2",
    "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2",
    "qint8", "quint8", "qint32", "quint4x2", "quint2x4", "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
    "bcomplex32", *(f"int{bits}" for bits in range(1, 8)), *(f"uint{bits}" for bits in range(1, 8)),
})
# The legacy tensor classes, named only as a tensor's type (never built here).
_TENSOR_CLASSES = ("Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool")


@dataclass(frozen=True)
class _StorageType:
    dtype: str
    itemsize: int


@dataclass(frozen=True)
class _Dtype:
    name: str


@dataclass(frozen=True)
class _Storage:
    """What a persistent id names: one storage record, by key; never read."""

    key: str
    dtype: str
    itemsize: int
    count: int  # elements (bytes for an untyped storage), as the file says


@dataclass(frozen=True)
class _Marker:
    """A class named only so it can be passed along (the tensor type in `_rebuild_from_type_v2`)."""

    name: str


class _Mapping(dict):
    """`collections.OrderedDict` in a checkpoint: a dict that ignores the state torch attaches to it."""

    def __setstate__(self, state: Any) -> None:
        pass  # torch's `_metadata` (module versions); nothing sdkit needs


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _shape(size: Any) -> tuple[int, ...]:
    if not isinstance(size, tuple) or len(size) > MAX_DIMENSIONS or not all(_count(d) for d in size):
        raise PickleProblem("a tensor's shape is not a short list of whole numbers (corrupt file)")
    return size


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any, *rest: Any) -> TensorInfo:
    if not isinstance(storage, _Storage):
        raise PickleProblem("a tensor refers to no storage record (corrupt file)")
    return TensorInfo(_shape(size), storage.dtype)


def _rebuild_tensor_v3(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = None,
                       backward_hooks: Any = None, dtype: Any = None, *rest: Any) -> TensorInfo:
    info = _rebuild_tensor_v2(storage, storage_offset, size, stride)
    return TensorInfo(info.shape, dtype.name if isinstance(dtype, _Dtype) else info.dtype)


def _rebuild_parameter(data: Any, *rest: Any) -> Any:
    return data  # a Parameter is its tensor, for what sdkit reads


_REBUILD_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "torch._utils._rebuild_tensor": _rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
}


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any = None) -> Any:
    if func not in _REBUILD_FUNCTIONS.values() or not isinstance(args, tuple):
        raise PickleProblem("a tensor subclass is rebuilt in a way sdkit does not read (corrupt file)")
    return func(*args)


def _codecs_encode(text: Any, encoding: Any = "utf-8", *rest: Any) -> bytes:
    # How protocol-2 pickles store bytes; only that use is allowed.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise PickleProblem("the file encodes data in a way torch checkpoints do not (corrupt file)")
    return text.encode("latin-1")


def _plain(kind: Callable[..., Any], *accepted: type) -> Callable[..., Any]:
    """A builtin constructor that accepts only plain data (never an int size: bytearray(10**12))."""

    def build(*args: Any) -> Any:
        if not all(isinstance(arg, accepted) for arg in args):
            raise PickleProblem(f"the file builds a {kind.__name__} from unexpected data (corrupt file)")
        return kind(*args)

    return build


def _size(*args: Any) -> tuple[int, ...]:
    return _shape(tuple(args[0])) if args and isinstance(args[0], (tuple, list)) else ()


_ALLOWED: dict[str, Any] = {
    "collections.OrderedDict": _Mapping,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
    "torch.Size": _size,
    "torch.device": _plain(str, str),
    "torch.serialization._get_layout": _plain(str, str),
    "torch.Tensor": _Marker("torch.Tensor"),
    **{f"torch.{kind}Tensor": _Marker(f"torch.{kind}Tensor") for kind in _TENSOR_CLASSES},
    "torch.nn.parameter.Parameter": _Marker("torch.nn.parameter.Parameter"),
    "_codecs.encode": _codecs_encode,
    "builtins.set": _plain(set, list, tuple),
    "builtins.bytearray": _plain(bytearray, bytes),
    "builtins.complex": _plain(complex, int, float),
    **_REBUILD_FUNCTIONS,
    **{f"torch.{name}": _StorageType(dtype, size) for name, (dtype, size) in _STORAGE_DTYPES.items()
       if name != "UntypedStorage"},
    "torch.storage.UntypedStorage": _StorageType(*_STORAGE_DTYPES["UntypedStorage"]),
    **{f"torch.{name}": _Dtype(name) for name in _DTYPE_NAMES},
}


# Names torch's weights-only loader accepts and this reader does not: refused, but not as code.
_OTHER_TENSOR_KINDS = ("torch._utils._rebuild_", "torch.cuda.", "torch.sparse.", "torch.Q", "torch.per_",
                       "torch.storage.TypedStorage", "collections.Counter")


def _shown(text: Any, limit: int = 80) -> str:
    """A name from the file, cut short: a hostile file can make it any length."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


class _Unpickler(pickle.Unpickler):
    """An unpickler that can only build plain data and the stand-ins above."""

    def __init__(self, stream: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(stream, encoding="utf-8")
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        module = "builtins" if module == "__builtin__" else module  # Python 2 pickles
        full_name = f"{module}.{name}"
        if full_name in _ALLOWED:
            return _ALLOWED[full_name]
        if full_name.startswith(_OTHER_TENSOR_KINDS):
            # Allowed by torch's own safe loader, but not what a Stable Diffusion checkpoint holds.
            raise PickleProblem(f"it holds tensors of a kind sdkit does not read ({_shown(full_name)}: "
                                "quantized, sparse, GPU-typed or otherwise special)")
        raise PickleProblem(f"it names {_shown(full_name)}, which is not part of a tensor checkpoint", unsafe=True)

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise PickleProblem("it refers to data that are not tensor storages (corrupt or not a checkpoint)")
        storage_type, key, count = pid[1], pid[2], pid[4]
        if not isinstance(storage_type, _StorageType) or not isinstance(key, (str, int)) or not _count(count):
            raise PickleProblem("a storage record is described inconsistently (corrupt file)")
        storage = _Storage(str(key), storage_type.dtype, storage_type.itemsize, count)
        known = self.storages.setdefault(storage.key, storage)
        return known


def _unpickle(stream: IO[bytes], storages: dict[str, _Storage]) -> Any:
    try:
        return _Unpickler(stream, storages).load()
    except PickleProblem:
        raise
    except EOFError:
        raise PickleProblem("the file ends in the middle of its table of tensors (truncated)") from None
    except Exception as error:  # a hostile or damaged pickle can fail in any of the unpickler's ways
        raise PickleProblem(f"its table of tensors is damaged ({type(error).__name__}: "
                            f"{_shown(error, 120)})") from None


def _tensors(data: Any) -> dict[str, TensorInfo]:
    """The tensors of the checkpoint's object, under however many {"state_dict": ...} wrappers."""
    while isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping):
        raise PickleProblem("the file holds no table of tensors")
    tensors = {key: value for key, value in data.items() if isinstance(key, str) and isinstance(value, TensorInfo)}
    if not tensors:
        raise PickleProblem("the file holds no tensors")
    return tensors


# ------------------------------------------------------------------------------------------ layouts
def _read_zip(path: Path) -> dict[str, TensorInfo]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, struct.error, EOFError):
        raise PickleProblem("the file is truncated or corrupt (its zip archive is incomplete)") from None
    with archive:
        entries = archive.infolist()
        if not entries:
            raise PickleProblem("the zip archive is empty")
        # torch.load reads the records under the first entry's folder, whatever it is called.
        prefix = entries[0].filename.split("/", 1)[0]
        records = {entry.filename: entry for entry in entries}
        pickled = records.get(f"{prefix}/data.pkl")
        if pickled is None:
            raise PickleProblem("this zip archive is not a PyTorch checkpoint (it has no data.pkl)")
        if pickled.file_size > MAX_PICKLE_BYTES:
            raise PickleProblem(f"its table of tensors is {pickled.file_size:,} bytes, far more than any "
                                "model's (not a model checkpoint)")
        try:
            with archive.open(pickled) as stream:
                raw = stream.read(MAX_PICKLE_BYTES + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as error:
            raise PickleProblem(f"the file is truncated or corrupt ({_shown(error, 120)})") from None
        if not raw.startswith(b"\x80"):
            # Protocols 0 and 1 have no PROTO opcode; torch's weights-only loader cannot read them either.
            raise PickleProblem("its table of tensors uses an old pickle protocol (0 or 1) that PyTorch's safe "
                                "loader does not read")
        storages: dict[str, _Storage] = {}
        tensors = _tensors(_unpickle(io.BytesIO(raw), storages))
        for storage in storages.values():
            record = records.get(f"{prefix}/data/{storage.key}")
            needed = storage.count * storage.itemsize
            if record is None or record.file_size < needed:
                have = "is missing" if record is None else f"has {record.file_size:,} bytes of {needed:,}"
                raise PickleProblem(f"the file is truncated or corrupt (storage record {_shown(storage.key)} {have})")
    return tensors


class _Capped:
    """A file that refuses to be read past `limit` bytes: a legacy file's pickles are not length-prefixed."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._limit = limit

    def _allow(self, size: int) -> int:
        left = self._limit - self._stream.tell()
        if size < 0:
            size = left
        if size > left:
            raise PickleProblem("its table of tensors is far larger than any model's (not a model checkpoint)")
        return size

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(self._allow(size))

    def readinto(self, buffer: Any) -> int:
        self._allow(len(memoryview(buffer)))
        return self._stream.readinto(buffer)

    def readline(self, size: int = -1) -> bytes:
        line = self._stream.readline(self._allow(size))
        if line and not line.endswith(b"\n"):
            self._allow(1)  # a line cut off by the limit: the file goes on past it
        return line


def _read_legacy(path: Path, raw_stream: IO[bytes]) -> dict[str, TensorInfo]:
    stream: Any = _Capped(raw_stream, MAX_PICKLE_BYTES)
    storages: dict[str, _Storage] = {}
    magic = _unpickle(stream, storages)
    if magic != LEGACY_MAGIC_NUMBER:
        raise PickleProblem("this is a plain pickle, not a PyTorch checkpoint (torch.save writes a zip archive)")
    if _unpickle(stream, storages) != LEGACY_PROTOCOL_VERSION:
        raise PickleProblem("the checkpoint was written in a PyTorch format sdkit does not read")
    _unpickle(stream, storages)  # system info: byte order and type sizes of the machine that saved it
    tensors = _tensors(_unpickle(stream, storages))
    keys = _unpickle(stream, {})
    if not isinstance(keys, list) or {str(key) for key in keys} != set(storages):
        raise PickleProblem("the checkpoint's list of storages does not match its tensors (corrupt file)")
    # Each storage follows as an 8-byte element count and its data: walk them without reading the data.
    end = path.stat().st_size
    for key in keys:
        storage = storages[str(key)]
        head = raw_stream.read(8)
        if len(head) < 8:
            raise PickleProblem("the file is truncated (its tensor data end early)")
        (count,) = struct.unpack("<q", head)
        if count != storage.count or raw_stream.tell() + count * storage.itemsize > end:
            raise PickleProblem("the file is truncated or corrupt (its tensor data do not match its tensors)")
        raw_stream.seek(count * storage.itemsize, io.SEEK_CUR)
    return tensors


def _looks_like_text(head: bytes) -> bool:
    for cut in range(4):  # the sample may end inside a multi-byte character
        try:
            text = head[:len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return bool(text) and all(char.isprintable() or char in "\t\r\n" for char in text)
    return False


def read_pickle_tensors(path: Path) -> dict[str, TensorInfo]:
    """Names, shapes and dtypes of the tensors in a `torch.save` file; `PickleProblem` says why not.

    Nothing from the file is imported or called; the weights are not read.
    """
    path = Path(path)
    with path.open("rb") as stream:
        head = stream.read(512)
        if head.startswith(ZIP_MAGIC):
            return _read_zip(path)
        if head[:1] == b"\x80":  # pickle protocol 2+ opens with PROTO
            stream.seek(0)
            return _read_legacy(path, stream)
    if len(head) >= 262 and head[257:262] == b"ustar":
        raise PickleProblem("this is a tar archive (PyTorch's format from before version 1.0), which sdkit "
                            "does not read")
    if _looks_like_text(head[:256]):
        raise PickleProblem("this is a text file, not a PyTorch checkpoint")
    raise PickleProblem("this is not a PyTorch checkpoint (neither a zip archive written by torch.save nor a pickle)")

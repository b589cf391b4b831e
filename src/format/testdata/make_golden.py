#!/usr/bin/env python3
"""Writes the golden GGUF files in this folder with llama.cpp's gguf-py (an independent writer).

Run: PYTHONPATH=/path/to/llama.cpp/gguf-py python3 make_golden.py
gguf_format tests read them back and check that shoal's Writer reproduces golden.gguf byte for
byte and that the split set opens from any part.
"""
import os

import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter

HERE = os.path.dirname(os.path.abspath(__file__))


def add_common(w):
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_uint64("t.u64", 2**64 - 1)
    w.add_int64("t.i64", -(2**63))
    w.add_float32("t.f32", 0.1)
    w.add_float64("t.f64", -2.5e-300)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "h\u00e9llo")
    w.add_array("t.strs", ["a", "bc", ""])
    w.add_array("t.i32s", [1, -2, 3])
    w.add_key_value("t.f32s", [0.5, -1.25], GGUFValueType.ARRAY, GGUFValueType.FLOAT32)
    w.add_array("t.nested", [[1, 2], [3]])


def tensors(w):
    w.add_tensor("f32", np.arange(12, dtype=np.float32).reshape(3, 4))
    w.add_tensor("f16", np.arange(6, dtype=np.float16))
    q8 = np.arange(2 * 34, dtype=np.uint8).reshape(2, 34)  # 2 rows of one q8_0 block
    w.add_tensor("q8", q8, raw_dtype=GGMLQuantizationType.Q8_0)
    w.add_tensor("i8", np.array([-1, 2, -3], dtype=np.int8))


def write(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


w = GGUFWriter(os.path.join(HERE, "golden.gguf"), "test")
add_common(w)
tensors(w)
write(w)

# A split set of 2 tensors per part: golden_split-0000{1,2}-of-00002.gguf.
w = GGUFWriter(os.path.join(HERE, "golden_split.gguf"), "test", split_max_tensors=2)
add_common(w)
tensors(w)
write(w)

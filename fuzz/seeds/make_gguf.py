#!/usr/bin/env python3
"""Write the GGUF seeds of the `gguf` fuzz target: small, well-formed GGUF v3 files with the
metadata a llama/ChatML model carries (the real models are hundreds of MB; the fuzzer mutates
these instead). Run from fuzz/: python3 seeds/make_gguf.py"""
import os
import struct

U32, I32, F32, STR, ARR, U64 = 4, 5, 6, 8, 9, 10


def s(x):
    b = x.encode()
    return struct.pack('<Q', len(b)) + b


def val(t, v):
    if t == U32: return struct.pack('<I', v)
    if t == I32: return struct.pack('<i', v)
    if t == F32: return struct.pack('<f', v)
    if t == U64: return struct.pack('<Q', v)
    if t == STR: return s(v)
    et, items = v
    return struct.pack('<IQ', et, len(items)) + b''.join(val(et, i) for i in items)


def gguf(kvs, tensors):
    out = b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += s(k) + struct.pack('<I', t) + val(t, v)
    offset, blobs = 0, []
    for name, dims, data in tensors:
        out += s(name) + struct.pack('<I', len(dims)) + b''.join(struct.pack('<Q', d) for d in dims)
        out += struct.pack('<IQ', 0, offset)  # F32
        blobs.append(data)
        offset += len(data) + (-len(data)) % 32
    out += b'\0' * ((-len(out)) % 32)
    for d in blobs:
        out += d + b'\0' * ((-len(d)) % 32)
    return out


tokens = ['<|im_start|>', '<|im_end|>', 'A', 'B', 'C', 'Ġ', 'a', 'b', 'ab', 'user', 'assistant', '\n']
kvs = [
    ('general.architecture', STR, 'llama'),
    ('general.name', STR, 'seed'),
    ('llama.context_length', U32, 64),
    ('llama.embedding_length', U32, 8),
    ('llama.block_count', U32, 1),
    ('llama.feed_forward_length', U32, 16),
    ('llama.attention.head_count', U32, 2),
    ('llama.attention.head_count_kv', U32, 1),
    ('llama.rope.freq_base', F32, 10000.0),
    ('llama.attention.layer_norm_rms_epsilon', F32, 1e-5),
    ('tokenizer.ggml.model', STR, 'gpt2'),
    ('tokenizer.ggml.pre', STR, 'smollm'),
    ('tokenizer.ggml.tokens', ARR, (STR, tokens)),
    ('tokenizer.ggml.token_type', ARR, (I32, [3, 3] + [1] * (len(tokens) - 2))),
    ('tokenizer.ggml.merges', ARR, (STR, ['a b'])),
    ('tokenizer.ggml.eos_token_id', U32, 1),
    ('tokenizer.chat_template', STR,
     "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"),
]
emb = struct.pack('<%df' % (len(tokens) * 8), *[((i * 7) % 13) / 13.0 for i in range(len(tokens) * 8)])
norm = struct.pack('<8f', *[1.0] * 8)
os.makedirs('seeds/gguf', exist_ok=True)
open('seeds/gguf/tiny_llama.gguf', 'wb').write(
    gguf(kvs, [('token_embd.weight', [8, len(tokens)], emb), ('output_norm.weight', [8], norm)]))
open('seeds/gguf/metadata_only.gguf', 'wb').write(gguf(kvs[:3] + kvs[10:13], []))

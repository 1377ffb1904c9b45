//! The GGUF weight blocks of the k-quant files (Q5_0, Q4_K, Q5_K, Q6_K): layout, dequantisation, and
//! their integer dot products with 8-bit activations as ggml defines them (Q8_0 activations for
//! Q5_0, Q8_K for the k-quants: one f32 scale per 256 values and the sum of every 16).
//!
//! The integer part of every block is exact; the float part has ONE order, shared by the native
//! and the wasm builds (this code has no target-specific paths), so both compute the same bits:
//!   acc[b % 4] += (yd_b * wd_b) * sumi_b;  accm[b % 4] += (-(yd_b * wdmin_b)) * summins_b
//!   result = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((accm[0] + accm[1]) + (accm[2] + accm[3]))

/// Values per k-quant super-block.
pub const QK_K: usize = 256;
/// Bytes of one Q5_0 block as kept in memory: `qh` (4) then `qs` (16); the f16 scale apart.
pub const Q5_0_QBYTES: usize = 20;
/// Bytes of one Q4_K super-block (f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 of nibbles).
pub const Q4_K_BYTES: usize = 144;
/// Bytes of one Q5_K super-block: as Q4_K plus 32 bytes of fifth bits (before the nibbles).
pub const Q5_K_BYTES: usize = 176;
/// Bytes of one Q6_K super-block (128 low nibbles, 64 of high bit pairs, 16 i8 scales, f16 d).
pub const Q6_K_BYTES: usize = 210;

/// The little-endian f16 at byte `i` of `b` (0 where `b` is shorter).
#[inline(always)]
fn f16_at(b: &[u8], i: usize) -> f32 {
    let lo = b.get(i).copied().unwrap_or(0);
    let hi = b.get(i + 1).copied().unwrap_or(0);
    f16_to_f32(u16::from_le_bytes([lo, hi]))
}

/// Activations quantised per 256 values (ggml's `quantize_row_q8_K_ref`): scale = max/-127 of
/// the value of largest magnitude (first one on ties), rounded half to even, kept in f32.
#[derive(Debug, Clone)]
pub struct Q8K {
    pub q: Vec<i8>,
    pub d: Vec<f32>,
    /// Sum of each run of 16 quantised values (at most 16 · 127 in magnitude: i16, as ggml's
    /// `block_q8_K`).
    pub bsums: Vec<i16>,
    /// Sum of each run of 32 quantised values (at most 32 · 127 in magnitude).
    pub bsums32: Vec<i16>,
}

impl Q8K {
    pub fn new(n: usize) -> Self {
        Self {
            q: vec![0; n],
            d: vec![0.0; n / QK_K],
            bsums: vec![0; n / 16],
            bsums32: vec![0; n / 32],
        }
    }

    pub fn quantize(&mut self, x: &[f32]) {
        quantize_q8k(x, &mut self.q, &mut self.d, &mut self.bsums, &mut self.bsums32);
    }
}

/// [`Q8K::quantize`] into the parts of `x`'s blocks: `q`, `d`, `bsums` and `bsums32` start at
/// `x`'s first block (so consecutive runs of blocks can be quantised apart, on several threads,
/// with the same numbers).
pub(crate) fn quantize_q8k(x: &[f32], q: &mut [i8], d: &mut [f32], bsums: &mut [i16], bsums32: &mut [i16]) {
    for (bi, xb) in x.chunks_exact(QK_K).enumerate() {
        let (mut max, mut amax) = (0.0f32, 0.0f32);
        for v in xb {
            if v.abs() > amax {
                amax = v.abs();
                max = *v;
            }
        }
        let Some(qb) = q.get_mut(bi * QK_K..(bi + 1) * QK_K) else {
            return;
        };
        if amax == 0.0 {
            qb.iter_mut().for_each(|q| *q = 0);
            if let Some(d) = d.get_mut(bi) {
                *d = 0.0;
            }
        } else {
            let iscale = -127.0f32 / max;
            for (o, v) in qb.iter_mut().zip(xb) {
                *o = ((iscale * v).round_ties_even() as i32).min(127) as i8;
            }
            if let Some(d) = d.get_mut(bi) {
                *d = 1.0 / iscale;
            }
        }
        for (j, chunk) in qb.chunks_exact(16).enumerate() {
            let sum: i16 = chunk.iter().map(|v| i16::from(*v)).sum();
            if let Some(s) = bsums.get_mut(bi * 16 + j) {
                *s = sum;
            }
            if let Some(s) = bsums32.get_mut(bi * 8 + j / 2) {
                *s = if j % 2 == 0 { sum } else { *s + sum };
            }
        }
    }
}

/// The 32 signed 5-bit values of a Q5_0 block (`qh` then `qs`), in order.
pub(crate) fn q5_0_values(qhqs: &[u8]) -> [i8; 32] {
    let mut out = [0i8; 32];
    let qh = u32::from_le_bytes([
        qhqs.first().copied().unwrap_or(0),
        qhqs.get(1).copied().unwrap_or(0),
        qhqs.get(2).copied().unwrap_or(0),
        qhqs.get(3).copied().unwrap_or(0),
    ]);
    for j in 0..16 {
        let b = qhqs.get(4 + j).copied().unwrap_or(0);
        let h0 = (((qh >> j) & 1) << 4) as u8;
        let h1 = (((qh >> (j + 16)) & 1) << 4) as u8;
        out[j] = (((b & 0x0F) | h0) as i8) - 16;
        out[j + 16] = (((b >> 4) | h1) as i8) - 16;
    }
    out
}

/// Σ w·y over one Q5_0 block against 32 Q8_0 activations.
pub fn q5_0_isum(qhqs: &[u8], y: &[i8]) -> i32 {
    sub_dot(&q5_0_values(qhqs), y, 0..32)
}

/// One Q5_0 block dequantised (ggml: value · d).
pub fn q5_0_dequant(d: f32, qhqs: &[u8], out: &mut [f32]) {
    for (o, v) in out.iter_mut().zip(q5_0_values(qhqs)) {
        *o = f32::from(v) * d;
    }
}

/// Scale and min of sub-block `j` (0..8) of a Q4_K block (ggml's `get_scale_min_k4`).
fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    let g = |i: usize| s.get(i).copied().unwrap_or(0);
    if j < 4 {
        (g(j) & 63, g(j + 4) & 63)
    } else {
        (
            (g(j + 4) & 0xF) | ((g(j - 4) >> 6) << 4),
            (g(j + 4) >> 4) | ((g(j) >> 6) << 4),
        )
    }
}

/// The 256 unsigned values of a Q4_K block (4 bits) or a Q5_K block (5 bits), in order.
fn q45_k_values(kind: KQuant, block: &[u8], out: &mut [u8; QK_K]) {
    let (qs, qh) = match kind {
        KQuant::Q5K => (block.get(48..Q5_K_BYTES), block.get(16..48)),
        _ => (block.get(16..Q4_K_BYTES), None),
    };
    let Some(Ok(qs)) = qs.map(<&[u8; 128]>::try_from) else {
        return;
    };
    for j in 0..4 {
        for l in 0..32 {
            let b = qs[32 * j + l];
            out[64 * j + l] = b & 0x0F;
            out[64 * j + 32 + l] = b >> 4;
        }
    }
    if let Some(Ok(qh)) = qh.map(<&[u8; 32]>::try_from) {
        for j in 0..4 {
            for l in 0..32 {
                out[64 * j + l] |= ((qh[l] >> (2 * j)) & 1) << 4;
                out[64 * j + 32 + l] |= ((qh[l] >> (2 * j + 1)) & 1) << 4;
            }
        }
    }
}

/// The 256 signed 6-bit values of a Q6_K block, in order.
fn q6_k_values(block: &[u8], out: &mut [i8; QK_K]) {
    let Ok(b) = <&[u8; Q6_K_BYTES]>::try_from(block) else {
        return;
    };
    for n in 0..2 {
        let (ql, qh) = (64 * n, 128 + 32 * n);
        for l in 0..32 {
            let h = b[qh + l];
            let e = 128 * n + l;
            out[e] = ((b[ql + l] & 0xF) | ((h & 3) << 4)) as i8 - 32;
            out[e + 32] = ((b[ql + l + 32] & 0xF) | (((h >> 2) & 3) << 4)) as i8 - 32;
            out[e + 64] = ((b[ql + l] >> 4) | (((h >> 4) & 3) << 4)) as i8 - 32;
            out[e + 96] = ((b[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) as i8 - 32;
        }
    }
}

/// Which k-quant a row is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KQuant {
    Q4K,
    Q5K,
    Q6K,
}

impl KQuant {
    pub fn block_bytes(self) -> usize {
        match self {
            KQuant::Q4K => Q4_K_BYTES,
            KQuant::Q5K => Q5_K_BYTES,
            KQuant::Q6K => Q6_K_BYTES,
        }
    }
}

/// Σ q·y over `range` of a block's values and its activations.
fn sub_dot<T: Copy + Into<i32>>(vals: &[T], y: &[i8], range: std::ops::Range<usize>) -> i32 {
    vals.get(range.clone())
        .unwrap_or(&[])
        .iter()
        .zip(y.get(range).unwrap_or(&[]))
        .map(|(a, b)| (*a).into() * i32::from(*b))
        .sum()
}

/// f16 → f32 without a table, exact, and with no subnormal float in any operation: a normal half
/// has its exponent rebiased by an integer add (mantissa moved to f32's place); a subnormal half
/// is its 10-bit mantissa times 2^-24, two normal floats. (Scaling the bits moved as they are by
/// 2^112, as before, multiplied an f32 subnormal for every subnormal half, and x86 takes a slow
/// assist for that: every Q6_K block scale of the Qwen2.5 files is a subnormal half, and their
/// rows ran 1.5× slower in the tab than with normal scales.)
#[inline(always)]
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let h = u32::from(h);
    let em = h & 0x7FFF;
    if em >= 0x7C00 {
        return half::f16::from_bits(h as u16).to_f32();
    }
    // 112 = 127 − 15, in the exponent's place; 0x3380_0000 = 2^-24.
    let normal = f32::from_bits((em + (112 << 10)) << 13);
    let subnormal = em as f32 * f32::from_bits(0x3380_0000);
    let v = if em >= 0x0400 { normal } else { subnormal };
    f32::from_bits(v.to_bits() | ((h & 0x8000) << 16))
}

/// The eight scales and eight mins of a Q4_K / Q5_K block, decoded with ggml's three masks
/// (`kmask1..3`): the same values as [`scale_min_k4`] for sub-blocks 0..8.
#[inline(always)]
fn scales_mins_packed(s: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    const M1: u32 = 0x3F3F_3F3F;
    const M2: u32 = 0x0F0F_0F0F;
    const M3: u32 = 0x0303_0303;
    let u = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (u0, u1, u2) = (u(0), u(1), u(2));
    let sc_lo = u0 & M1;
    let sc_hi = (u2 & M2) | (((u0 >> 6) & M3) << 4);
    let m_lo = u1 & M1;
    let m_hi = ((u2 >> 4) & M2) | (((u1 >> 6) & M3) << 4);
    let join = |a: u32, b: u32| {
        let (a, b) = (a.to_le_bytes(), b.to_le_bytes());
        [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
    };
    (join(sc_lo, sc_hi), join(m_lo, m_hi))
}

/// One super-block, decoded once for every token of a batch: its float scales, its sub-block
/// scales (and mins), and its 256 values.
struct Decoded {
    q6: bool,
    d: f32,
    dmin: f32,
    scales: [u8; 8],
    mins: [u8; 8],
    scales6: [i8; 16],
    vals: Vals,
}

enum Vals {
    U45([u8; QK_K]),
    I6([i8; QK_K]),
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd(crate::kquant_simd::Unpacked),
}

impl Decoded {
    #[inline(always)]
    fn new<const SIMD: bool>(kind: KQuant, block: &[u8]) -> Self {
        let vals = Self::values::<SIMD>(kind, block);
        match kind {
            KQuant::Q4K | KQuant::Q5K => {
                let s: &[u8; 12] = block.get(4..16).and_then(|s| s.try_into().ok()).unwrap_or(&[0; 12]);
                let (scales, mins) = scales_mins_packed(s);
                Decoded {
                    q6: false,
                    d: f16_at(block, 0),
                    dmin: f16_at(block, 2),
                    scales,
                    mins,
                    scales6: [0; 16],
                    vals,
                }
            }
            KQuant::Q6K => Decoded {
                q6: true,
                d: f16_at(block, 208),
                dmin: 0.0,
                scales: [0; 8],
                mins: [0; 8],
                scales6: q6_scales(block),
                vals,
            },
        }
    }

    /// The block's values: unpacked into vectors in SIMD builds, else into bytes.
    #[inline(always)]
    fn values<const SIMD: bool>(kind: KQuant, block: &[u8]) -> Vals {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if SIMD {
            let u = match kind {
                KQuant::Q6K => crate::kquant_simd::q6_k_unpack(block),
                _ => crate::kquant_simd::q45_k_unpack(kind == KQuant::Q5K, block),
            };
            if let Some(u) = u {
                return Vals::Simd(u);
            }
        }
        if kind == KQuant::Q6K {
            let mut v = [0i8; QK_K];
            q6_k_values(block, &mut v);
            Vals::I6(v)
        } else {
            let mut v = [0u8; QK_K];
            q45_k_values(kind, block, &mut v);
            Vals::U45(v)
        }
    }

    /// Σ_sub scale·Σ q·y against one token's Q8_K block (Q6_K: with the signed values).
    #[inline(always)]
    fn sumi(&self, a: &Act) -> i32 {
        match &self.vals {
            Vals::U45(v) => (0..8)
                .map(|sub| i32::from(self.scales[sub]) * sub_dot(v, a.y, sub * 32..(sub + 1) * 32))
                .sum(),
            Vals::I6(v) => (0..16)
                .map(|sub| i32::from(self.scales6[sub]) * sub_dot(v, a.y, sub * 16..(sub + 1) * 16))
                .sum(),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Vals::Simd(u) => {
                use crate::kquant_simd as k;
                if self.q6 {
                    k::sumi_16(u, a.y, &self.scales6) - 32 * k::scaled_sums_16(&self.scales6, a.bsums)
                } else {
                    k::sumi_32(u, a.y, &self.scales)
                }
            }
        }
    }

    /// Σ_16 bsum·min (Q4_K / Q5_K).
    #[inline(always)]
    fn summins(&self, a: &Act) -> i32 {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if let Vals::Simd(_) = self.vals {
            return crate::kquant_simd::scaled_sums_8(&self.mins, a.b32);
        }
        (0..8).map(|sub| i32::from(self.mins[sub]) * i32::from(a.b32[sub])).sum()
    }
}

/// One token's Q8_K block: its 256 values and their sums per 16 and per 32.
#[derive(Clone, Copy)]
struct Act<'a> {
    y: &'a [i8; QK_K],
    /// Read by the SIMD form only (the scalar Q6_K sum uses the signed values).
    #[cfg_attr(not(all(target_arch = "wasm32", target_feature = "simd128")), allow(dead_code))]
    bsums: &'a [i16; 16],
    b32: &'a [i16; 8],
}

impl<'a> Act<'a> {
    /// Block `b` of `x`; zeros where `x` is shorter (a block it lacks adds nothing).
    #[inline(always)]
    fn of(x: &'a Q8K, b: usize) -> Self {
        const NO_Y: [i8; QK_K] = [0; QK_K];
        fn arr<'a, T, const N: usize>(v: &'a [T], b: usize, zero: &'a [T; N]) -> &'a [T; N] {
            v.get(b * N..(b + 1) * N).and_then(|s| s.try_into().ok()).unwrap_or(zero)
        }
        Act {
            y: arr(&x.q, b, &NO_Y),
            bsums: arr(&x.bsums, b, &[0; 16]),
            b32: arr(&x.bsums32, b, &[0; 8]),
        }
    }
}

/// One row of k-quant blocks · Q8_K activations (the integer sums in wasm SIMD where the build
/// has simd128).
pub fn row_dot_k(kind: KQuant, row: &[u8], x: &Q8K) -> f32 {
    let mut out = [0.0f32];
    row_dot_k_batch_with::<true>(kind, row, &[x], &mut out);
    out[0]
}

/// `out[i]` = row `i` of `rows` (consecutive rows of `len` bytes) · one token, each with the bits
/// [`row_dot_k`] gives it (rows past `out` or past the bytes are left alone). Generation's matrix
/// products call this once per chunk of rows: in wasm SIMD the row loop and the block loop are
/// one function of their own, so V8 compiles (and allocates registers for) the hot loop apart
/// from the prompt paths, and no call is made per row.
pub fn rows_dot_k(kind: KQuant, rows: &[u8], len: usize, x: &Q8K, out: &mut [f32]) {
    if len == 0 {
        return;
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if !short_of(x, len / kind.block_bytes()) {
        match kind {
            KQuant::Q4K => q45_rows_one::<Q4_K_BYTES, false>(rows, len, x, out),
            KQuant::Q5K => q45_rows_one::<Q5_K_BYTES, true>(rows, len, x, out),
            KQuant::Q6K => q6_rows_one(rows, len, x, out),
        }
        return;
    }
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(len)) {
        *o = row_dot_k(kind, row, x);
    }
}

/// [`row_dot_k`] with the portable scalar integer sums in every build: the reference the SIMD
/// kernels are tested against (`tests/kquant_simd_wasm.rs`), bit for bit.
pub fn row_dot_k_scalar(kind: KQuant, row: &[u8], x: &Q8K) -> f32 {
    let mut out = [0.0f32];
    row_dot_k_batch_with::<false>(kind, row, &[x], &mut out);
    out[0]
}

/// `out[t]` = one row · `xs[t]` for a batch of tokens: each block is decoded once and reused by
/// every token. Each result has the bits [`row_dot_k`] gives for that token alone.
pub fn row_dot_k_batch(kind: KQuant, row: &[u8], xs: &[&Q8K], out: &mut [f32]) {
    row_dot_k_batch_with::<true>(kind, row, xs, out)
}

/// [`row_dot_k_batch`] with the portable scalar integer sums.
pub fn row_dot_k_batch_scalar(kind: KQuant, row: &[u8], xs: &[&Q8K], out: &mut [f32]) {
    row_dot_k_batch_with::<false>(kind, row, xs, out)
}

#[inline(always)]
fn row_dot_k_batch_with<const SIMD: bool>(kind: KQuant, row: &[u8], xs: &[&Q8K], out: &mut [f32]) {
    const T: usize = 32;
    for (xs, out) in xs.chunks(T).zip(out.chunks_mut(T)) {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if SIMD && xs.len() > 1 && row_dot_tiles_simd(kind, row, xs, out) {
            continue;
        }
        // One token (generation) keeps its accumulators in registers.
        if xs.len() == 1 {
            row_dot_k_up_to::<SIMD, 1>(kind, row, xs, out)
        } else {
            row_dot_k_up_to::<SIMD, T>(kind, row, xs, out)
        }
    }
}

/// A row's result from its four lanes of scale sums and of min sums (the module's float order).
#[inline(always)]
fn finish(acc: &[f32; 4], accm: &[f32; 4]) -> f32 {
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((accm[0] + accm[1]) + (accm[2] + accm[3]))
}

/// The sixteen i8 sub-block scales of a Q6_K block (0 where `block` is shorter).
#[inline(always)]
fn q6_scales(block: &[u8]) -> [i8; 16] {
    std::array::from_fn(|i| block.get(192 + i).copied().unwrap_or(0) as i8)
}

/// Up to `N` tokens; the float order of [`row_dot_k`] for each.
#[inline(always)]
fn row_dot_k_up_to<const SIMD: bool, const N: usize>(kind: KQuant, row: &[u8], xs: &[&Q8K], out: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if SIMD && N == 1 {
        if let (Some(x), Some(o)) = (xs.first(), out.first_mut()) {
            if let Some(v) = row_dot_one_simd(kind, row, x) {
                *o = v;
                return;
            }
        }
    }
    let mut acc = [[0.0f32; 4]; N];
    let mut accm = [[0.0f32; 4]; N];
    for (b, block) in row.chunks_exact(kind.block_bytes()).enumerate() {
        let blk = Decoded::new::<SIMD>(kind, block);
        let lane = b % 4;
        for ((x, acc), accm) in xs.iter().zip(&mut acc).zip(&mut accm) {
            let a = Act::of(x, b);
            let yd = x.d.get(b).copied().unwrap_or(0.0);
            acc[lane] += (yd * blk.d) * blk.sumi(&a) as f32;
            if !blk.q6 {
                accm[lane] += (-(yd * blk.dmin)) * blk.summins(&a) as f32;
            }
        }
    }
    for ((o, acc), accm) in out.iter_mut().zip(&acc).zip(&accm) {
        *o = finish(acc, accm);
    }
}

/// Up to 32 tokens of a prompt batch in wasm SIMD: each block is unpacked (and its scales made
/// splats) once, then the tokens go four at a time, each weight vector and scale loaded once for
/// the four, and the float part runs four tokens to a vector. Per token, the integers and the
/// float order of [`row_dot_k_up_to`] (lane `i` of every vector op is the scalar op of token
/// `i`). `false`, with nothing written, when some token's activations are shorter than the row
/// (the general path handles that).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn row_dot_tiles_simd(kind: KQuant, row: &[u8], xs: &[&Q8K], out: &mut [f32]) -> bool {
    match kind {
        KQuant::Q4K => tiles::<Q4_K_BYTES, false, false>(row, xs, out),
        KQuant::Q5K => tiles::<Q5_K_BYTES, false, true>(row, xs, out),
        KQuant::Q6K => tiles::<Q6_K_BYTES, true, false>(row, xs, out),
    }
}

/// [`row_dot_tiles_simd`] for one block type (`Q6`: Q6_K, else Q4_K or, with `FIVE`, Q5_K).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(never)]
fn tiles<const BYTES: usize, const Q6: bool, const FIVE: bool>(row: &[u8], xs: &[&Q8K], out: &mut [f32]) -> bool {
    use crate::kquant_simd as k;
    use core::arch::wasm32::*;
    const TILES: usize = 8;
    let kind = if Q6 { KQuant::Q6K } else if FIVE { KQuant::Q5K } else { KQuant::Q4K };
    let n = xs.len();
    let nb = row.len() / BYTES;
    let Some(last) = xs.last() else { return false };
    if n > 4 * TILES || out.len() < n || xs.iter().any(|x| short_of(x, nb)) {
        return false;
    }
    let tiles = n.div_ceil(4);
    // Tile t holds tokens 4t..4t+4; the last tile repeats the last token where the batch ends.
    let tile = |t: usize| -> [&Q8K; 4] { std::array::from_fn(|i| xs.get(4 * t + i).copied().unwrap_or(last)) };
    let zero = f32x4_splat(0.0);
    let mut acc = [[zero; 4]; TILES];
    let mut accm = [[zero; 4]; TILES];
    for (b, block) in row.chunks_exact(BYTES).enumerate() {
        let lane = b % 4;
        let blk = Decoded::new::<true>(kind, block);
        // Always unpacked into vectors: `chunks_exact` gives whole blocks.
        let Vals::Simd(u) = &blk.vals else { continue };
        let splats = if Q6 { k::splats_16(&blk.scales6) } else { k::splats_8(&blk.scales) };
        let (dv, dminv) = (f32x4_splat(blk.d), f32x4_splat(blk.dmin));
        for (t, (acc, accm)) in acc.iter_mut().zip(&mut accm).take(tiles).enumerate() {
            let a = tile(t).map(|x| (Act::of(x, b), x.d.get(b).copied().unwrap_or(0.0)));
            let ys = a.map(|(a, _)| a.y);
            let yd = f32x4(a[0].1, a[1].1, a[2].1, a[3].1);
            if Q6 {
                let sumi = k::sumi_16_x4(u, ys, &splats);
                let off = k::scaled_sums_16_x4(&blk.scales6, a.map(|(a, _)| a.bsums));
                let sumi = i32x4_sub(sumi, i32x4_shl(off, 5));
                acc[lane] = f32x4_add(acc[lane], f32x4_mul(f32x4_mul(yd, dv), f32x4_convert_i32x4(sumi)));
            } else {
                let sumi = k::sumi_32_x4(u, ys, &splats);
                acc[lane] = f32x4_add(acc[lane], f32x4_mul(f32x4_mul(yd, dv), f32x4_convert_i32x4(sumi)));
                let summins = k::scaled_sums_8_x4(&blk.mins, a.map(|(a, _)| a.b32));
                let m = f32x4_mul(f32x4_neg(f32x4_mul(yd, dminv)), f32x4_convert_i32x4(summins));
                accm[lane] = f32x4_add(accm[lane], m);
            }
        }
    }
    for (t, (a, m)) in acc.iter().zip(&accm).take(tiles).enumerate() {
        let r = f32x4_add(
            f32x4_add(f32x4_add(a[0], a[1]), f32x4_add(a[2], a[3])),
            f32x4_add(f32x4_add(m[0], m[1]), f32x4_add(m[2], m[3])),
        );
        let r = [f32x4_extract_lane::<0>(r), f32x4_extract_lane::<1>(r), f32x4_extract_lane::<2>(r), f32x4_extract_lane::<3>(r)];
        for (o, v) in out.iter_mut().skip(4 * t).take(n.saturating_sub(4 * t).min(4)).zip(r) {
            *o = v;
        }
    }
    true
}

/// Whether `x` lacks activations (values, scales, 16- or 32-value sums) for some of `nb` blocks.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn short_of(x: &Q8K, nb: usize) -> bool {
    x.q.len() < nb * QK_K || x.d.len() < nb || x.bsums.len() < nb * 16 || x.bsums32.len() < nb * 8
}

/// One token in wasm SIMD (generation): each block unpacked and multiplied in one pass, nothing
/// kept (unlike the prompt path, a loop form measured slower here in Chromium's V8, though faster
/// in Node's). The integers and the float order of [`row_dot_k_up_to`]. `None` when the activations
/// are shorter than the row (the caller's general path handles that).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn row_dot_one_simd(kind: KQuant, row: &[u8], x: &Q8K) -> Option<f32> {
    let nb = row.len() / kind.block_bytes();
    // `short_of`, written out: through the helper, V8's code for this hot path measured 5 %
    // slower on Q4_K and Q6_K rows (bench/kernels, same sums).
    if x.q.len() < nb * QK_K || x.d.len() < nb || x.bsums.len() < nb * 16 || x.bsums32.len() < nb * 8 {
        return None;
    }
    match kind {
        KQuant::Q4K => Some(q45_row_one::<Q4_K_BYTES, false>(row, x)),
        KQuant::Q5K => Some(q45_row_one::<Q5_K_BYTES, true>(row, x)),
        KQuant::Q6K => Some(q6_row_one(row, x)),
    }
}

/// Block `i` of a token: its values, scale, and 16- and 32-value sums; `None` past its end.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn act_block(x: &Q8K, i: usize) -> Option<(&[i8; QK_K], f32, &[i16; 16], &[i16; 8])> {
    Some((
        x.q.get(i * QK_K..(i + 1) * QK_K)?.try_into().ok()?,
        *x.d.get(i)?,
        x.bsums.get(i * 16..(i + 1) * 16)?.try_into().ok()?,
        x.bsums32.get(i * 8..(i + 1) * 8)?.try_into().ok()?,
    ))
}

/// Block `i` of a Q4_K / Q5_K row against one token: the scale sums and the min sums as four
/// i32 lanes each (their totals are the integers of [`row_dot_k_up_to`]), and the block's two
/// float factors, yd·d and −(yd·dmin). All zero past the row's end.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn q45_block_one<const BYTES: usize, const FIVE: bool>(
    row: &[u8],
    x: &Q8K,
    i: usize,
) -> (core::arch::wasm32::v128, core::arch::wasm32::v128, f32, f32) {
    use crate::kquant_simd as k;
    use core::arch::wasm32::i32x4_splat;
    let zero = (i32x4_splat(0), i32x4_splat(0), 0.0, 0.0);
    let Some(blk) = row.get(i * BYTES..(i + 1) * BYTES).and_then(|b| <&[u8; BYTES]>::try_from(b).ok()) else {
        return zero;
    };
    let (Some((y, yd, _, b32)), Some(s)) = (act_block(x, i), blk.get(4..16).and_then(|s| <&[u8; 12]>::try_from(s).ok())) else {
        return zero;
    };
    let (scales, mins) = scales_mins_packed(s);
    let sumi = k::q45_k_dot(FIVE, blk, y, &scales).unwrap_or(i32x4_splat(0));
    (sumi, k::scaled_sums_8_v(&mins, b32), yd * f16_at(blk, 0), -(yd * f16_at(blk, 2)))
}

/// `acc[b % 4] += f[b] · total(sums[b])` for four consecutive blocks at once: the four lanes of
/// `acc` are the four accumulators of [`row_dot_k_up_to`], so every lane sees the same float
/// operations in the same order as there (a block past the row's end adds 0 · 0, which leaves a
/// lane as it was: the lanes start at +0 and so are never −0).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn add_four(acc: core::arch::wasm32::v128, sums: [core::arch::wasm32::v128; 4], f: [f32; 4]) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    let t = crate::kquant_simd::hsum4(sums[0], sums[1], sums[2], sums[3]);
    f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(t), f32x4(f[0], f[1], f[2], f[3])))
}

/// The four accumulator lanes as [`finish`] takes them.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn lanes(v: core::arch::wasm32::v128) -> [f32; 4] {
    use core::arch::wasm32::f32x4_extract_lane as e;
    [e::<0>(v), e::<1>(v), e::<2>(v), e::<3>(v)]
}

/// One Q4_K / Q5_K row against one token, four blocks at a time: each block's integer sums stay
/// in vectors until the four blocks' totals come out together as one vector ([`add_four`]), so
/// no block pays for a horizontal sum and scalar float work of its own (bench/kernels: 1.2× on
/// Q4_K rows). The integers and the float order of [`row_dot_k_up_to`].
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn q45_row_one<const BYTES: usize, const FIVE: bool>(row: &[u8], x: &Q8K) -> f32 {
    use core::arch::wasm32::f32x4_splat;
    let nb = row.len() / BYTES;
    let (mut acc, mut accm) = (f32x4_splat(0.0), f32x4_splat(0.0));
    let mut b = 0;
    while b < nb {
        let (s0, m0, d0, e0) = q45_block_one::<BYTES, FIVE>(row, x, b);
        let (s1, m1, d1, e1) = q45_block_one::<BYTES, FIVE>(row, x, b + 1);
        let (s2, m2, d2, e2) = q45_block_one::<BYTES, FIVE>(row, x, b + 2);
        let (s3, m3, d3, e3) = q45_block_one::<BYTES, FIVE>(row, x, b + 3);
        acc = add_four(acc, [s0, s1, s2, s3], [d0, d1, d2, d3]);
        accm = add_four(accm, [m0, m1, m2, m3], [e0, e1, e2, e3]);
        b += 4;
    }
    finish(&lanes(acc), &lanes(accm))
}

/// Block `i` of a Q6_K row against one token: its integer sum (offset taken off) as four i32
/// lanes, and yd·d. Zero past the row's end.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn q6_block_one(row: &[u8], x: &Q8K, i: usize) -> (core::arch::wasm32::v128, f32) {
    use crate::kquant_simd as k;
    use core::arch::wasm32::{i32x4_shl, i32x4_splat, i32x4_sub};
    let zero = (i32x4_splat(0), 0.0);
    let Some(blk) = row.get(i * Q6_K_BYTES..(i + 1) * Q6_K_BYTES).and_then(|b| <&[u8; Q6_K_BYTES]>::try_from(b).ok()) else {
        return zero;
    };
    let Some((y, yd, b16, _)) = act_block(x, i) else { return zero };
    let sc = q6_scales(blk);
    let dot = k::q6_k_dot(blk, y, &sc).unwrap_or(i32x4_splat(0));
    (i32x4_sub(dot, i32x4_shl(k::scaled_sums_16_v(&sc, b16), 5)), yd * f16_at(blk, 208))
}

/// One Q6_K row against one token, four blocks at a time (as [`q45_row_one`]).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn q6_row_one(row: &[u8], x: &Q8K) -> f32 {
    use core::arch::wasm32::f32x4_splat;
    let nb = row.len() / Q6_K_BYTES;
    let mut acc = f32x4_splat(0.0);
    let mut b = 0;
    while b < nb {
        let (s0, d0) = q6_block_one(row, x, b);
        let (s1, d1) = q6_block_one(row, x, b + 1);
        let (s2, d2) = q6_block_one(row, x, b + 2);
        let (s3, d3) = q6_block_one(row, x, b + 3);
        acc = add_four(acc, [s0, s1, s2, s3], [d0, d1, d2, d3]);
        b += 4;
    }
    // As the general path: the mins' accumulators stay at zero for Q6_K.
    finish(&lanes(acc), &[0.0; 4])
}

/// [`q45_row_one`] over consecutive rows (see [`rows_dot_k`]).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(never)]
fn q45_rows_one<const BYTES: usize, const FIVE: bool>(rows: &[u8], len: usize, x: &Q8K, out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(len)) {
        *o = q45_row_one::<BYTES, FIVE>(row, x);
    }
}

/// [`q6_row_one`] over consecutive rows (see [`rows_dot_k`]).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(never)]
fn q6_rows_one(rows: &[u8], len: usize, x: &Q8K, out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(len)) {
        *o = q6_row_one(row, x);
    }
}

/// Dequantise a row of k-quant blocks into `out` (ggml's `dequantize_row_q4_K` / `_q5_K` /
/// `_q6_K`).
pub fn dequant_k(kind: KQuant, row: &[u8], out: &mut [f32]) {
    for (block, o) in row
        .chunks_exact(kind.block_bytes())
        .zip(out.chunks_exact_mut(QK_K))
    {
        match kind {
            KQuant::Q4K | KQuant::Q5K => {
                let (d, min) = (f16_at(block, 0), f16_at(block, 2));
                let scales = block.get(4..16).unwrap_or(&[]);
                let mut vals = [0u8; QK_K];
                q45_k_values(kind, block, &mut vals);
                for (sub, chunk) in o.chunks_exact_mut(32).enumerate() {
                    let (sc, m) = scale_min_k4(sub, scales);
                    let (d1, m1) = (d * f32::from(sc), min * f32::from(m));
                    for (v, q) in chunk.iter_mut().zip(&vals[sub * 32..(sub + 1) * 32]) {
                        *v = d1 * f32::from(*q) - m1;
                    }
                }
            }
            KQuant::Q6K => {
                let d = f16_at(block, 208);
                let mut vals = [0i8; QK_K];
                q6_k_values(block, &mut vals);
                for (e, (v, q)) in o.iter_mut().zip(vals).enumerate() {
                    let sc = block.get(192 + e / 16).copied().unwrap_or(0) as i8;
                    *v = d * f32::from(sc) * f32::from(q);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16b(x: f32) -> [u8; 2] {
        half::f16::from_f32(x).to_bits().to_le_bytes()
    }

    /// A deterministic byte pattern.
    fn bytes(n: usize, seed: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * 131 + seed * 71 + 17) % 251) as u8).collect()
    }

    fn q4_k_block_bytes(seed: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&f16b(0.013 + seed as f32 * 0.001));
        b.extend_from_slice(&f16b(0.021));
        b.extend(bytes(140, seed));
        b
    }

    fn q5_k_block_bytes(seed: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&f16b(0.011));
        b.extend_from_slice(&f16b(0.017 + seed as f32 * 0.001));
        b.extend(bytes(172, seed));
        b
    }

    /// Q5_K element 64·j + l takes bit 2j of qh[l] as its fifth bit; element 64·j + 32 + l bit
    /// 2j + 1 (ggml's layout), with the sub-block's 6-bit scale and min.
    #[test]
    fn q5_k_layout() {
        let mut b = vec![0u8; Q5_K_BYTES];
        b[0..2].copy_from_slice(&f16b(1.0)); // d
        b[2..4].copy_from_slice(&f16b(0.0)); // dmin
        b[4..8].copy_from_slice(&[1, 1, 1, 1]); // scales of sub-blocks 0..4
        b[12..16].copy_from_slice(&[0x11, 0x11, 0x11, 0x11]); // scales (low) of 4..8
        b[16 + 3] = 0b0000_0110; // qh[3]: bits 1 and 2
        b[48 + 32 + 3] = 0x52; // qs of j = 1, l = 3: low 2, high 5
        let mut out = [0.0f32; QK_K];
        dequant_k(KQuant::Q5K, &b, &mut out);
        assert_eq!(out[3], 0.0); // j = 0, low: bit 0 not set, nibble 0
        assert_eq!(out[32 + 3], 16.0); // j = 0, high: bit 1 set
        assert_eq!(out[64 + 3], 2.0 + 16.0); // j = 1, low: nibble 2, bit 2 set
        assert_eq!(out[96 + 3], 5.0); // j = 1, high: nibble 5, bit 3 not set
    }

    fn q6_k_block_bytes(seed: usize) -> Vec<u8> {
        let mut b = bytes(208, seed);
        b.extend_from_slice(&f16b(0.0071));
        b
    }

    fn float_dot(w: &[f32], x: &Q8K) -> f64 {
        w.iter()
            .enumerate()
            .map(|(i, v)| {
                f64::from(*v) * f64::from(x.q[i]) * f64::from(x.d.get(i / QK_K).copied().unwrap_or(0.0))
            })
            .sum()
    }

    /// The integer dot with scales and mins equals the dot of the dequantised row with the
    /// dequantised activations (same numbers, summed differently).
    #[test]
    fn k_quant_dots_match_their_dequantised_rows() {
        let x: Vec<f32> = (0..512).map(|i| ((i as f32) * 0.173).sin() * 3.0).collect();
        let mut qx = Q8K::new(512);
        qx.quantize(&x);
        for (kind, row) in [
            (KQuant::Q4K, [q4_k_block_bytes(1), q4_k_block_bytes(2)].concat()),
            (KQuant::Q5K, [q5_k_block_bytes(5), q5_k_block_bytes(6)].concat()),
            (KQuant::Q6K, [q6_k_block_bytes(3), q6_k_block_bytes(4)].concat()),
        ] {
            let mut w = vec![0.0f32; 512];
            dequant_k(kind, &row, &mut w);
            assert!(w.iter().any(|v| *v != 0.0));
            let want = float_dot(&w, &qx);
            let got = f64::from(row_dot_k(kind, &row, &qx));
            assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "{kind:?}: {got} vs {want}");
        }
    }

    #[test]
    fn q8_k_quantisation_follows_ggml() {
        let mut x = vec![0.5f32; 256];
        x[7] = -2.0;
        x[9] = 2.0; // same magnitude later: the first one sets the sign of the scale
        let mut q = Q8K::new(256);
        q.quantize(&x);
        assert_eq!(q.d[0], 1.0 / (-127.0 / -2.0));
        assert_eq!(q.q[7], -127);
        assert_eq!(q.q[9], 127);
        assert_eq!(q.q[0], 32); // 0.5 · 63.5 = 31.75 → 32
        assert_eq!(q.bsums[0], 32 * 14 - 127 + 127);
        let mut z = Q8K::new(256);
        z.quantize(&[0.0; 256]);
        assert_eq!((z.d[0], z.bsums[3]), (0.0, 0));
    }

    #[test]
    fn q5_0_values_use_the_high_bits() {
        let mut b = vec![0u8; 20];
        b[0] = 0b0000_0001; // element 0 gets bit 4
        b[2] = 0b0000_0001; // element 16 gets bit 4
        b[4] = 0x3F; // element 0: low nibble 15, element 16: 3
        let v = q5_0_values(&b);
        assert_eq!((v[0], v[16], v[1], v[17]), (15, 3, -16, -16));
        let mut out = [0.0f32; 32];
        q5_0_dequant(0.5, &b, &mut out);
        assert_eq!((out[0], out[16], out[1]), (7.5, 1.5, -8.0));
        let y: Vec<i8> = (0..32).map(|i| i as i8 - 10).collect();
        let want: i32 = v.iter().zip(&y).map(|(a, b)| i32::from(*a) * i32::from(*b)).sum();
        assert_eq!(q5_0_isum(&b, &y), want);
    }

    #[test]
    fn short_input_is_not_a_panic() {
        let x = Q8K::new(256);
        assert_eq!(row_dot_k(KQuant::Q4K, &[1, 2, 3], &x), 0.0);
        let mut out = [0.0f32; 256];
        dequant_k(KQuant::Q6K, &[0u8; 10], &mut out);
        assert_eq!(q5_0_isum(&[], &[]), 0);
    }

    /// The three-mask decoding gives ggml's `get_scale_min_k4` for every sub-block.
    #[test]
    fn packed_scales_match_get_scale_min_k4() {
        for seed in 0..2000usize {
            let s: [u8; 12] = std::array::from_fn(|i| ((i * 97 + seed * 131 + seed / 7) % 256) as u8);
            let (scales, mins) = scales_mins_packed(&s);
            for j in 0..8 {
                assert_eq!((scales[j], mins[j]), scale_min_k4(j, &s), "seed {seed} sub {j}");
            }
        }
        let (scales, mins) = scales_mins_packed(&[0xFF; 12]);
        assert_eq!((scales, mins), ([63; 8], [63; 8]));
    }

    /// Every one of the 65,536 halves converts to the f32 the `half` crate gives, bit for bit
    /// (NaNs too).
    #[test]
    fn f16_conversion_is_exact_for_every_half() {
        for h in 0..=u16::MAX {
            let want = half::f16::from_bits(h).to_f32();
            assert_eq!(f16_to_f32(h).to_bits(), want.to_bits(), "half {h:#06x}");
        }
    }

    /// A batch of tokens gives, for each token, the bits of that token alone (each block is
    /// decoded once for the batch), with more tokens than one pass holds and a short token.
    #[test]
    fn batches_give_each_tokens_own_bits() {
        let n = 3 * QK_K;
        let xs: Vec<Q8K> = (0..37)
            .map(|t| {
                let x: Vec<f32> = (0..n).map(|i| ((i * (t + 3)) as f32 * 0.0137).sin() * (1.0 + t as f32)).collect();
                let mut q = Q8K::new(n);
                q.quantize(&x);
                q
            })
            .collect();
        let short = Q8K::new(QK_K);
        for (kind, row) in [
            (KQuant::Q4K, [q4_k_block_bytes(1), q4_k_block_bytes(2), q4_k_block_bytes(9)].concat()),
            (KQuant::Q5K, [q5_k_block_bytes(5), q5_k_block_bytes(6), q5_k_block_bytes(7)].concat()),
            (KQuant::Q6K, [q6_k_block_bytes(3), q6_k_block_bytes(4), q6_k_block_bytes(8)].concat()),
        ] {
            let mut refs: Vec<&Q8K> = xs.iter().collect();
            refs.insert(5, &short);
            let mut out = vec![f32::NAN; refs.len()];
            row_dot_k_batch(kind, &row, &refs, &mut out);
            let mut scalar = vec![f32::NAN; refs.len()];
            row_dot_k_batch_scalar(kind, &row, &refs, &mut scalar);
            for (t, x) in refs.iter().enumerate() {
                let one = row_dot_k(kind, &row, x);
                assert_eq!(out[t].to_bits(), one.to_bits(), "{kind:?} token {t}");
                assert_eq!(scalar[t].to_bits(), one.to_bits(), "{kind:?} token {t} (scalar)");
                assert!(one.is_finite());
            }
        }
    }
}


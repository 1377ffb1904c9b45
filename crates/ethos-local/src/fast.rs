//! A lean llama forward pass for one sequence, written for speed in wasm (one thread, or the
//! matrix rows spread over [`crate::pool`]'s threads in the threaded build):
//! weights stay in their GGUF quantisation (Q4_1, Q4_0, Q8_0, Q5_0, Q4_K, Q5_K, Q6_K), the 32-blocks
//! repacked once into aligned scale/quant arrays, the k-quant super-blocks kept as in the file;
//! activations are quantised to 8 bits the way llama.cpp does (Q8_1 against Q4_x weights, Q8_0
//! against Q8_0/Q5_0, Q8_K against the k-quants) and dotted with integer SIMD (wasm simd128,
//! relaxed-simd when enabled) for Q4_x/Q8_0, the shared scalar code of [`crate::quants`] for the
//! others. The KV cache stores K and V rounded to f16 like llama.cpp's.
//!
//! Architectures: llama and qwen2 ([`crate::arch`]). For llama files not covered the candle model
//! runs; qwen2 runs here only. Transcendental functions come from the pure-Rust `libm` and every float
//! reduction has one fixed order, so native and wasm builds compute identical bits.

use std::borrow::Cow;
use std::collections::HashMap;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::GgmlDType;

use crate::pool::{self, Out};
use crate::quants::{self, KQuant, Q8K, QK_K};
use crate::runtime::LocalError;

const QK: usize = 32;

fn f16_to_f32(bits: u16) -> f32 {
    half::f16::from_bits(bits).to_f32()
}

fn round_f16(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Unsigned nibbles with scale and min: x = d*q + m.
    Q4_1,
    /// Nibbles minus 8, with scale.
    Q4_0,
    /// Signed bytes with scale.
    Q8_0,
    /// 5-bit values (nibble + high bit) minus 16, with scale; kept as `qh` + `qs` (20 bytes).
    Q5_0,
    /// k-quant super-blocks of 256 values, kept as in the file ([`crate::quants`]).
    K(KQuant),
}

impl Kind {
    fn k_quant(self) -> Option<KQuant> {
        match self {
            Kind::K(k) => Some(k),
            _ => None,
        }
    }
}

/// A quantised matrix of `rows` × `cols` (row-major, cols a multiple of 32), repacked.
struct QMat {
    kind: Kind,
    rows: usize,
    cols: usize,
    /// Per block: scale.
    d: Vec<f32>,
    /// Per block: min (Q4_1 only).
    m: Vec<f32>,
    /// Q4_x: 16 bytes per block (low nibbles = elements 0..16, high = 16..32).
    /// Q8_0: 32 signed bytes per block. Q5_0: `qh` (4) + `qs` (16) per block.
    /// k-quants: the whole super-blocks of the file (`d` and `m` unused).
    q: Vec<u8>,
}

impl QMat {
    fn from_gguf(kind: Kind, raw: Cow<'_, [u8]>, rows: usize, cols: usize) -> Result<Self, LocalError> {
        if let Some(k) = kind.k_quant() {
            if !cols.is_multiple_of(QK_K) {
                return Err(LocalError::Gguf(format!(
                    "a {kind:?} matrix {cols} wide (not a multiple of 256)"
                )));
            }
            let need = rows
                .checked_mul(cols / QK_K)
                .and_then(|nb| nb.checked_mul(k.block_bytes()))
                .ok_or_else(|| LocalError::Gguf("tensor too large".into()))?;
            if raw.len() < need {
                return Err(LocalError::Gguf("tensor data is truncated".into()));
            }
            // A streamed tensor's own buffer is kept as it is (no copy); a slice of a whole file
            // is copied.
            let mut q = raw.into_owned();
            q.truncate(need);
            return Ok(Self {
                kind,
                rows,
                cols,
                d: Vec::new(),
                m: Vec::new(),
                q,
            });
        }
        if !cols.is_multiple_of(QK) {
            return Err(LocalError::Unsupported(
                "matrix width not a multiple of 32".into(),
            ));
        }
        let nb = rows
            .checked_mul(cols / QK)
            .ok_or_else(|| LocalError::Gguf("tensor too large".into()))?;
        let (bsize, qbytes) = match kind {
            Kind::Q4_1 => (20, 16),
            Kind::Q4_0 => (18, 16),
            Kind::Q8_0 => (34, 32),
            Kind::Q5_0 => (22, quants::Q5_0_QBYTES),
            Kind::K(_) => return Err(LocalError::Gguf("k-quant".into())),
        };
        if nb.checked_mul(bsize).is_none_or(|need| raw.len() < need) {
            return Err(LocalError::Gguf("tensor data is truncated".into()));
        }
        let mut d = Vec::with_capacity(nb);
        let mut m = Vec::with_capacity(if kind == Kind::Q4_1 { nb } else { 0 });
        let mut q = Vec::with_capacity(nb * qbytes);
        for b in raw.chunks_exact(bsize).take(nb) {
            let h = |i: usize| {
                u16::from_le_bytes([
                    b.get(i).copied().unwrap_or(0),
                    b.get(i + 1).copied().unwrap_or(0),
                ])
            };
            d.push(f16_to_f32(h(0)));
            let start = match kind {
                Kind::Q4_1 => {
                    m.push(f16_to_f32(h(2)));
                    4
                }
                _ => 2,
            };
            q.extend_from_slice(b.get(start..start + qbytes).unwrap_or(&[]));
        }
        Ok(Self {
            kind,
            rows,
            cols,
            d,
            m,
            q,
        })
    }

    /// Q5_0 as Q8_0: every 5-bit value as a signed byte, scales unchanged.
    fn widen_q5_0(self) -> Self {
        let q = self
            .q
            .chunks_exact(quants::Q5_0_QBYTES)
            .flat_map(quants::q5_0_values)
            .map(|v| v as u8)
            .collect();
        Self {
            kind: Kind::Q8_0,
            q,
            ..self
        }
    }

    /// Bytes per block in `q`.
    fn qbytes(&self) -> usize {
        match self.kind {
            Kind::Q8_0 => 32,
            Kind::Q5_0 => quants::Q5_0_QBYTES,
            Kind::K(k) => k.block_bytes(),
            Kind::Q4_0 | Kind::Q4_1 => 16,
        }
    }

    /// Values per block.
    fn block_elems(&self) -> usize {
        if self.kind.k_quant().is_some() {
            QK_K
        } else {
            QK
        }
    }

    /// Bytes per row in `q` (whole blocks).
    fn row_bytes(&self) -> usize {
        self.cols / self.block_elems() * self.qbytes()
    }

    /// Dequantised row `r` into `out` (for the embedding lookup).
    fn row_f32(&self, r: usize, out: &mut [f32]) {
        if let Some(k) = self.kind.k_quant() {
            let len = self.row_bytes();
            quants::dequant_k(k, self.q.get(r * len..(r + 1) * len).unwrap_or(&[]), out);
            return;
        }
        let nbr = self.cols / QK;
        let qb = self.qbytes();
        for (bi, chunk) in out.chunks_exact_mut(QK).enumerate().take(nbr) {
            let b = r * nbr + bi;
            let d = self.d.get(b).copied().unwrap_or(0.0);
            let q = self.q.get(b * qb..(b + 1) * qb).unwrap_or(&[]);
            match self.kind {
                Kind::Q8_0 => {
                    for (o, v) in chunk.iter_mut().zip(q) {
                        *o = d * f32::from(*v as i8);
                    }
                }
                Kind::Q5_0 => quants::q5_0_dequant(d, q, chunk),
                Kind::K(_) => {}
                Kind::Q4_0 | Kind::Q4_1 => {
                    let m = if self.kind == Kind::Q4_1 {
                        self.m.get(b).copied().unwrap_or(0.0)
                    } else {
                        0.0
                    };
                    let off = if self.kind == Kind::Q4_0 { 8 } else { 0 };
                    for j in 0..16 {
                        let byte = q.get(j).copied().unwrap_or(0);
                        if let Some(o) = chunk.get_mut(j) {
                            *o = d * f32::from(i16::from(byte & 0xF) as i8 - off) + m;
                        }
                        if let Some(o) = chunk.get_mut(j + 16) {
                            *o = d * f32::from(i16::from(byte >> 4) as i8 - off) + m;
                        }
                    }
                }
            }
        }
    }
}

/// Which forms of a quantised activation some matrix reading it needs.
#[derive(Clone, Copy, Debug)]
struct Needs {
    /// The Q8_K form (a k-quant matrix reads it).
    k: bool,
    /// The 32-block form (a Q4_0 / Q4_1 / Q5_0 / Q8_0 matrix reads it).
    plain: bool,
}

impl Needs {
    fn of<'a>(mats: impl IntoIterator<Item = &'a QMat>) -> Self {
        let mut n = Needs { k: false, plain: false };
        for m in mats {
            if m.kind.k_quant().is_some() {
                n.k = true;
            } else {
                n.plain = true;
            }
        }
        n
    }
}

/// Activations quantised per 32-block (Q8_0 / Q8_1 semantics: d and s rounded to f16).
struct QAct {
    q: Vec<i8>,
    d: Vec<f32>,
    /// d * Σq (Q8_1), rounded to f16.
    s: Vec<f32>,
    /// The same values as Q8_K, for k-quant weights (when some matrix needs them).
    k: Option<Q8K>,
}

impl QAct {
    fn new(n: usize) -> Self {
        Self {
            q: vec![0; n],
            d: vec![0.0; n / QK],
            s: vec![0.0; n / QK],
            k: None,
        }
    }

    /// The forms the matrices that read these activations need: the Q8_K form when `need.k`
    /// (and the length allows it), the 32-block form when `need.plain` (else it stays empty and
    /// `quantize` skips it: a model of k-quant matrices only never reads it).
    fn with_k(n: usize, need: Needs) -> Self {
        let mut a = if need.plain { Self::new(n) } else { Self::new(0) };
        if need.k && n.is_multiple_of(QK_K) {
            a.k = Some(Q8K::new(n));
        }
        a
    }

    /// As ggml's x86 `quantize_row_q8_0` / `quantize_row_q8_1`: id = 127/amax, round half to
    /// even, d (and d·Σq) stored as f16.
    fn quantize(&mut self, x: &[f32]) {
        if let Some(k) = self.k.as_mut() {
            k.quantize(x);
        }
        if !self.q.is_empty() {
            quantize_q8_0(x, &mut self.q, &mut self.d, &mut self.s);
        }
    }
}

/// The 32-block form of [`QAct::quantize`] into the parts of `x`'s blocks (`q`, `d`, `s` start at
/// `x`'s first block).
fn quantize_q8_0(x: &[f32], q: &mut [i8], d: &mut [f32], s: &mut [f32]) {
    for (bi, xb) in x.chunks_exact(QK).enumerate() {
        let amax = xb.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let dv = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut sum = 0i32;
        if let Some(qb) = q.get_mut(bi * QK..(bi + 1) * QK) {
            for (o, v) in qb.iter_mut().zip(xb) {
                let r = (v * id).round_ties_even() as i32;
                sum += r;
                *o = r as i8;
            }
        }
        if let Some(slot) = d.get_mut(bi) {
            *slot = round_f16(dv);
        }
        if let Some(slot) = s.get_mut(bi) {
            *slot = round_f16(sum as f32 * dv);
        }
    }
}

/// Values per chunk of [`gate_and_quantize`]: four Q8_K blocks.
const GATE_CHUNK: usize = 4 * QK_K;

/// The FFN's gate for one token, `g ← act(g)·u` (SiLU, or Gemma's GELU), then `a` ← `g`
/// quantised: elementwise, then per block, so a run of blocks at a time goes to each of the
/// pool's threads with the same numbers as one pass over the whole vector. (One token's FFN
/// width is 4,864–8,960 values: its exponentials and rounding were a serial stretch of every
/// layer while the other threads waited.)
fn gate_and_quantize(g: &mut [f32], u: &[f32], gelu: bool, a: &mut QAct) {
    let act = |g: &mut [f32], u: &[f32]| {
        for (gv, uv) in g.iter_mut().zip(u) {
            *gv = if gelu {
                gelu_f16_table(*gv) * uv
            } else {
                *gv / (1.0 + libm::expf(-*gv)) * uv
            };
        }
    };
    let n = g.len();
    if pool::helpers() == 0 || !n.is_multiple_of(QK_K) || u.len() != n || n <= GATE_CHUNK {
        act(g, u);
        a.quantize(g);
        return;
    }
    let plain = !a.q.is_empty();
    let gp = Out::of(g);
    let (qp, dp, sp) = (Out::of(&mut a.q), Out::of(&mut a.d), Out::of(&mut a.s));
    let k = a.k.as_mut().map(|k| (Out::of(&mut k.q), Out::of(&mut k.d), Out::of(&mut k.bsums), Out::of(&mut k.bsums32)));
    pool::par_chunks(n.div_ceil(GATE_CHUNK), &|c| {
        let (start, len) = (c * GATE_CHUNK, GATE_CHUNK.min(n - c * GATE_CHUNK));
        // SAFETY: chunk c alone uses values [start, start + len) and the parts of their blocks
        // (start and len are multiples of QK_K, so of QK and 16 too); every slice outlives
        // par_chunks (`slice` gives an empty one out of range).
        let gs = unsafe { gp.slice(start, len) };
        act(gs, u.get(start..start + len).unwrap_or(&[]));
        if plain {
            let (q, d, s) = unsafe { (qp.slice(start, len), dp.slice(start / QK, len / QK), sp.slice(start / QK, len / QK)) };
            quantize_q8_0(gs, q, d, s);
        }
        if let Some((kq, kd, b16, b32)) = k {
            let parts = unsafe {
                (kq.slice(start, len), kd.slice(start / QK_K, len / QK_K), b16.slice(start / 16, len / 16), b32.slice(start / 32, len / 32))
            };
            quants::quantize_q8k(gs, parts.0, parts.1, parts.2, parts.3);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Row · activation dot products. The integer part of each block is exact; the float part has
// ONE defined order, used by both the SIMD (wasm) and the scalar (native) code, so the browser
// build and the native build give bit-identical results:
//   acc[b % 4] += isum_b as f32 * (wd_b * xd_b);   (Q4_1: then acc[b % 4] += wm_b * xs_b)
//   result = (acc[0] + acc[1]) + (acc[2] + acc[3])

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tail_block(
    kind: Kind,
    acc: &mut [f32; 4],
    lane: usize,
    isum: i32,
    wd: f32,
    xd: f32,
    wm: f32,
    xs: f32,
) {
    if let Some(a) = acc.get_mut(lane) {
        *a += isum as f32 * (wd * xd);
        if kind == Kind::Q4_1 {
            *a += wm * xs;
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn isum_scalar(kind: Kind, q: &[u8], y: &[i8]) -> i32 {
    match kind {
        Kind::Q8_0 => q
            .iter()
            .zip(y)
            .map(|(a, b)| i32::from(*a as i8) * i32::from(*b))
            .sum(),
        Kind::Q4_1 | Kind::Q4_0 => {
            let (y0, y1) = y.split_at(16.min(y.len()));
            let mut s = 0i32;
            for ((b, a), c) in q.iter().zip(y0).zip(y1) {
                s += i32::from(b & 0xF) * i32::from(*a) + i32::from(b >> 4) * i32::from(*c);
            }
            if kind == Kind::Q4_0 {
                s -= 8 * y.iter().map(|v| i32::from(*v)).sum::<i32>();
            }
            s
        }
        // Dispatched in `row_dot` before this is reached.
        Kind::Q5_0 | Kind::K(_) => 0,
    }
}

/// Whether `w` and `x` have the sizes the kernels assume (checked once per matrix-vector product).
fn shapes_ok(w: &QMat, x: &QAct) -> bool {
    let nb = w.rows * (w.cols / w.block_elems());
    if w.kind.k_quant().is_some() {
        return w.q.len() >= nb * w.qbytes()
            && x.k.as_ref().is_some_and(|k| {
                k.q.len() >= w.cols && k.d.len() >= w.cols / QK_K && k.bsums.len() >= w.cols / 16
            });
    }
    w.d.len() >= nb
        && w.q.len() >= nb * w.qbytes()
        && (w.kind != Kind::Q4_1 || w.m.len() >= nb)
        && x.q.len() >= w.cols
        && x.d.len() >= w.cols / QK
        && x.s.len() >= w.cols / QK
}

/// Row `r` of `w` · `x` (shapes checked by the caller).
#[inline]
fn row_dot(w: &QMat, r: usize, x: &QAct) -> f32 {
    match w.kind {
        Kind::Q5_0 => row_dot_q5_0(w, r, x),
        Kind::K(k) => {
            let Some(xk) = x.k.as_ref() else {
                return f32::NAN;
            };
            let len = w.row_bytes();
            quants::row_dot_k(k, w.q.get(r * len..(r + 1) * len).unwrap_or(&[]), xk)
        }
        Kind::Q4_0 | Kind::Q4_1 | Kind::Q8_0 => row_dot_32(w, r, x),
    }
}

/// Q5_0 rows: the integer sums from [`quants::q5_0_isum`], the float part in the order of the
/// other 32-blocks (same code natively and in wasm).
fn row_dot_q5_0(w: &QMat, r: usize, x: &QAct) -> f32 {
    let nbr = w.cols / QK;
    let qb = w.qbytes();
    let mut acc = [0.0f32; 4];
    let g = |v: &Vec<f32>, i: usize| v.get(i).copied().unwrap_or(0.0);
    for b in 0..nbr {
        let wb = r * nbr + b;
        let q = w.q.get(wb * qb..(wb + 1) * qb).unwrap_or(&[]);
        let y = x.q.get(b * QK..(b + 1) * QK).unwrap_or(&[]);
        let isum = quants::q5_0_isum(q, y);
        tail_block(w.kind, &mut acc, b % 4, isum, g(&w.d, wb), g(&x.d, b), 0.0, 0.0);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn row_dot_32(w: &QMat, r: usize, x: &QAct) -> f32 {
    let nbr = w.cols / QK;
    let qb = w.qbytes();
    let mut acc = [0.0f32; 4];
    for b in 0..nbr {
        let wb = r * nbr + b;
        let q = w.q.get(wb * qb..(wb + 1) * qb).unwrap_or(&[]);
        let y = x.q.get(b * QK..(b + 1) * QK).unwrap_or(&[]);
        let isum = isum_scalar(w.kind, q, y);
        let g = |v: &Vec<f32>, i: usize| v.get(i).copied().unwrap_or(0.0);
        tail_block(
            w.kind,
            &mut acc,
            b % 4,
            isum,
            g(&w.d, wb),
            g(&x.d, b),
            g(&w.m, wb),
            g(&x.s, b),
        );
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn row_dot_32(w: &QMat, r: usize, x: &QAct) -> f32 {
    use core::arch::wasm32::*;
    let nbr = w.cols / QK;
    let qb = w.qbytes();
    let base = r * nbr;
    // SAFETY: `shapes_ok` was checked by the caller: every pointer below stays inside
    // w.q/w.d/w.m (blocks base..base+nbr) and x.q/x.d/x.s (blocks 0..nbr).
    unsafe {
        let wq = w.q.as_ptr().add(base * qb);
        let wd = w.d.as_ptr().add(base);
        let wm = if w.kind == Kind::Q4_1 {
            w.m.as_ptr().add(base)
        } else {
            w.d.as_ptr().add(base)
        };
        let yq = x.q.as_ptr() as *const u8;
        let (xd, xs) = (x.d.as_ptr(), x.s.as_ptr());
        let block_isum = |b: usize| -> v128 {
            let y0 = v128_load(yq.add(b * QK) as *const v128);
            let y1 = v128_load(yq.add(b * QK + 16) as *const v128);
            match w.kind {
                Kind::Q8_0 => {
                    let a0 = v128_load(wq.add(b * 32) as *const v128);
                    let a1 = v128_load(wq.add(b * 32 + 16) as *const v128);
                    i32x4_add(
                        i32x4_add(
                            i32x4_extadd_pairwise_i16x8(i16x8_extmul_low_i8x16(a0, y0)),
                            i32x4_extadd_pairwise_i16x8(i16x8_extmul_high_i8x16(a0, y0)),
                        ),
                        i32x4_add(
                            i32x4_extadd_pairwise_i16x8(i16x8_extmul_low_i8x16(a1, y1)),
                            i32x4_extadd_pairwise_i16x8(i16x8_extmul_high_i8x16(a1, y1)),
                        ),
                    )
                }
                Kind::Q4_1 | Kind::Q4_0 => {
                    let qv = v128_load(wq.add(b * 16) as *const v128);
                    let lo = v128_and(qv, u8x16_splat(0x0F));
                    let hi = crate::kquant_simd::nib_hi(qv);
                    #[cfg(target_feature = "relaxed-simd")]
                    let p = i32x4_relaxed_dot_i8x16_i7x16_add(
                        y1,
                        hi,
                        i32x4_relaxed_dot_i8x16_i7x16_add(y0, lo, i32x4_splat(0)),
                    );
                    #[cfg(not(target_feature = "relaxed-simd"))]
                    let p = i32x4_add(
                        i32x4_add(
                            i32x4_extadd_pairwise_i16x8(i16x8_extmul_low_i8x16(lo, y0)),
                            i32x4_extadd_pairwise_i16x8(i16x8_extmul_high_i8x16(lo, y0)),
                        ),
                        i32x4_add(
                            i32x4_extadd_pairwise_i16x8(i16x8_extmul_low_i8x16(hi, y1)),
                            i32x4_extadd_pairwise_i16x8(i16x8_extmul_high_i8x16(hi, y1)),
                        ),
                    );
                    if w.kind == Kind::Q4_0 {
                        // Σy over the block, times 8, subtracted (nibbles are offset by 8).
                        let sy = i32x4_add(
                            i32x4_add(
                                i32x4_extadd_pairwise_i16x8(i16x8_extadd_pairwise_i8x16(y0)),
                                i32x4_splat(0),
                            ),
                            i32x4_extadd_pairwise_i16x8(i16x8_extadd_pairwise_i8x16(y1)),
                        );
                        i32x4_sub(p, i32x4_shl(sy, 3))
                    } else {
                        p
                    }
                }
                // Dispatched in `row_dot` before this is reached.
                Kind::Q5_0 | Kind::K(_) => i32x4_splat(0),
            }
        };
        let mut acc = f32x4_splat(0.0);
        let groups = nbr / 4;
        for g in 0..groups {
            let b = g * 4;
            let (a, bb, c, d) = (
                block_isum(b),
                block_isum(b + 1),
                block_isum(b + 2),
                block_isum(b + 3),
            );
            // Transposed horizontal sums: lane i = total of block b+i.
            let s_ab = i32x4_add(
                i32x4_shuffle::<0, 4, 1, 5>(a, bb),
                i32x4_shuffle::<2, 6, 3, 7>(a, bb),
            );
            let s_cd = i32x4_add(
                i32x4_shuffle::<0, 4, 1, 5>(c, d),
                i32x4_shuffle::<2, 6, 3, 7>(c, d),
            );
            let tot = i32x4_add(
                i32x4_shuffle::<0, 1, 4, 5>(s_ab, s_cd),
                i32x4_shuffle::<2, 3, 6, 7>(s_ab, s_cd),
            );
            let scale = f32x4_mul(
                v128_load(wd.add(b) as *const v128),
                v128_load(xd.add(b) as *const v128),
            );
            acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(tot), scale));
            if w.kind == Kind::Q4_1 {
                acc = f32x4_add(
                    acc,
                    f32x4_mul(
                        v128_load(wm.add(b) as *const v128),
                        v128_load(xs.add(b) as *const v128),
                    ),
                );
            }
        }
        let mut lanes = [
            f32x4_extract_lane::<0>(acc),
            f32x4_extract_lane::<1>(acc),
            f32x4_extract_lane::<2>(acc),
            f32x4_extract_lane::<3>(acc),
        ];
        for b in groups * 4..nbr {
            let v = block_isum(b);
            let isum = i32x4_extract_lane::<0>(v)
                + i32x4_extract_lane::<1>(v)
                + i32x4_extract_lane::<2>(v)
                + i32x4_extract_lane::<3>(v);
            tail_block(
                w.kind,
                &mut lanes,
                b % 4,
                isum,
                *wd.add(b),
                *xd.add(b),
                *wm.add(b),
                *xs.add(b),
            );
        }
        (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
    }
}

/// Rows per chunk of work shared between threads ([`crate::pool`]).
const ROWS_PER_CHUNK: usize = 32;

/// About this many weights per chunk of a one-token product: 32 rows of a 1,536-wide matrix are
/// a couple of microseconds of work, so the chunks' claims (an atomic write each, on a cache
/// line the threads pass around) cost a good share of generation on two threads.
const WEIGHTS_PER_CHUNK: usize = 1 << 18;

/// Rows per chunk of a one-token product with rows of `cols` weights: a multiple of
/// [`ROWS_PER_CHUNK`] near [`WEIGHTS_PER_CHUNK`] weights (at least one multiple).
fn rows_per_chunk_one(cols: usize) -> usize {
    ROWS_PER_CHUNK * (WEIGHTS_PER_CHUNK / (ROWS_PER_CHUNK * cols.max(1))).max(1)
}

/// out = W · x, with x already quantised. Rows are spread over the pool's threads; each row is
/// computed the same way whichever thread does it.
fn matvec(w: &QMat, x: &QAct, out: &mut [f32]) {
    if !shapes_ok(w, x) {
        out.iter_mut().for_each(|o| *o = f32::NAN);
        return;
    }
    let rows = w.rows.min(out.len());
    let o = Out::of(out);
    let per = rows_per_chunk_one(w.cols);
    if let (Kind::K(k), Some(xk)) = (w.kind, x.k.as_ref()) {
        // A chunk's rows in one call (the same bits as `row_dot` row by row).
        let len = w.row_bytes();
        pool::par_chunks(rows.div_ceil(per), &|c| {
            let start = c * per;
            let n = per.min(rows.saturating_sub(start));
            // SAFETY: chunk c alone writes rows [c·R, (c+1)·R); `out` outlives par_chunks.
            let dst = unsafe { o.slice(start, n) };
            match w.q.get(start * len..(start + n) * len) {
                Some(src) => quants::rows_dot_k(k, src, len, xk, dst),
                None => dst.iter_mut().for_each(|v| *v = f32::NAN),
            }
        });
        return;
    }
    pool::par_chunks(rows.div_ceil(per), &|c| {
        for r in c * per..((c + 1) * per).min(rows) {
            // SAFETY: chunk c alone writes rows [c·R, (c+1)·R); `out` outlives par_chunks.
            unsafe { o.set(r, row_dot(w, r, x)) };
        }
    });
}

/// Prompt batch size: each weight row is read once per this many tokens.
const BATCH: usize = 32;

/// outs[t] = W · xs[t] for a batch; row by row so each row is read from memory once. Every
/// output is computed exactly as by [`matvec`].
fn matmul(w: &QMat, xs: &[QAct], outs: &mut [Vec<f32>]) {
    if xs.iter().any(|x| !shapes_ok(w, x)) {
        outs.iter_mut()
            .for_each(|o| o.iter_mut().for_each(|v| *v = f32::NAN));
        return;
    }
    // One token (generation): the matrix-vector product, whose k-quant rows go a chunk per call.
    if let ([x], [out]) = (xs, &mut *outs) {
        return matvec(w, x, out);
    }
    let ptrs: Vec<Out> = outs.iter_mut().map(|o| Out::of(o)).collect();
    if let Kind::K(k) = w.kind {
        // Each block of a row is decoded once for the whole batch.
        let xks: Vec<&Q8K> = xs.iter().filter_map(|x| x.k.as_ref()).collect();
        let len = w.row_bytes();
        // No allocation inside the chunks: the threaded build's allocator takes a lock.
        pool::par_chunks(w.rows.div_ceil(ROWS_PER_CHUNK), &|c| {
            let mut row_out = [0.0f32; BATCH];
            for r in c * ROWS_PER_CHUNK..((c + 1) * ROWS_PER_CHUNK).min(w.rows) {
                let row = w.q.get(r * len..(r + 1) * len).unwrap_or(&[]);
                for (xc, pc) in xks.chunks(BATCH).zip(ptrs.chunks(BATCH)) {
                    let row_out = &mut row_out[..xc.len()];
                    quants::row_dot_k_batch(k, row, xc, row_out);
                    for (v, o) in row_out.iter().zip(pc) {
                        // SAFETY: as in `matvec`; `Out::set` ignores rows past an output's length.
                        unsafe { o.set(r, *v) };
                    }
                }
            }
        });
        return;
    }
    pool::par_chunks(w.rows.div_ceil(ROWS_PER_CHUNK), &|c| {
        for r in c * ROWS_PER_CHUNK..((c + 1) * ROWS_PER_CHUNK).min(w.rows) {
            for (x, o) in xs.iter().zip(&ptrs) {
                // SAFETY: as in `matvec`; `Out::set` ignores rows past an output's length.
                unsafe { o.set(r, row_dot(w, r, x)) };
            }
        }
    });
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: QMat,
    wk: QMat,
    wv: QMat,
    /// Q/K/V biases (qwen2).
    bq: Option<Vec<f32>>,
    bk: Option<Vec<f32>>,
    bv: Option<Vec<f32>>,
    /// Per-head RMS-norm weights of Q and K (qwen3, gemma3), `head_dim` each.
    q_norm: Option<Vec<f32>>,
    /// RMS norms of the attention output and of the FFN output before each residual add
    /// (gemma3).
    attn_post_norm: Option<Vec<f32>>,
    ffn_post_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    wo: QMat,
    ffn_norm: Vec<f32>,
    gate: QMat,
    up: QMat,
    down: QMat,
}

/// What Gemma 3 does differently (llama.cpp's `gemma3.cpp`).
struct Gemma {
    /// Per layer: a sliding-window layer?
    swa: Vec<bool>,
    window: usize,
    /// base_swa^(-2/head_dim): the RoPE step of the sliding-window layers.
    rope_step_swa: f32,
    /// The embedding is multiplied by sqrt(embedding width).
    embd_scale: f32,
    /// Q is multiplied by this before the attention, whose own scale is then 1.
    q_scale: f32,
}

pub struct FastLlama {
    dim: usize,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
    hidden: usize,
    eps: f32,
    vocab: usize,
    /// base^(-2i/head_dim) per rotary pair i, as ggml accumulates it.
    rope_theta: Vec<f32>,
    /// Llama 3's RoPE scaling: the angle of rotary pair i is divided by factor i (the file's
    /// `rope_freqs.weight`, which llama.cpp's converter computes from the scaling parameters).
    rope_freqs: Option<Vec<f32>>,
    /// GPT-NeoX rotation (pairs i, i + head_dim/2: qwen2) instead of adjacent pairs (llama).
    rope_neox: bool,
    /// Gemma 3: the sliding-window layers (a query sees the last `window` positions only, RoPE
    /// with their own base), the embedding scale, Q scaled before the attention, GELU.
    gemma: Option<Gemma>,
    /// Which quantised forms the activations of width `dim` / `q_dim` (the input of the
    /// attention output matrix) / `hidden` need.
    k_dim: Needs,
    k_q: Needs,
    /// n_heads · head_dim: the width of Q and of the attention output (the embedding width,
    /// except where the file sets a head size of its own, as qwen3 does).
    q_dim: usize,
    k_hidden: Needs,
    embd: QMat,
    output: Option<QMat>,
    out_norm: Vec<f32>,
    layers: Vec<Layer>,
    max_ctx: usize,
    /// [layer][pos][kv_dim], values rounded to f16.
    k_cache: Vec<Vec<f32>>,
    v_cache: Vec<Vec<f32>>,
    len: usize,
    /// The token at each cached position.
    history: Vec<u32>,
    // scratch
    att: Vec<f32>,
}

fn kind_of(t: GgmlDType) -> Option<Kind> {
    match t {
        GgmlDType::Q4_1 => Some(Kind::Q4_1),
        GgmlDType::Q4_0 => Some(Kind::Q4_0),
        GgmlDType::Q8_0 => Some(Kind::Q8_0),
        GgmlDType::Q5_0 => Some(Kind::Q5_0),
        GgmlDType::Q4K => Some(Kind::K(KQuant::Q4K)),
        GgmlDType::Q5K => Some(Kind::K(KQuant::Q5K)),
        GgmlDType::Q6K => Some(Kind::K(KQuant::Q6K)),
        _ => None,
    }
}

/// A tensor's size in bytes, from its dimensions and type; an error when it overflows.
pub(crate) fn tensor_size(
    name: &str,
    info: &candle_core::quantized::gguf_file::TensorInfo,
) -> Result<usize, LocalError> {
    let n = info
        .shape
        .dims()
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or_else(|| LocalError::Gguf(format!("tensor {name} is too large")))?;
    // No elements (candle's reader would then cast an empty, unaligned buffer to blocks), or a
    // row that is not whole blocks (ggml refuses it too): not a tensor any model has.
    let block = info.ggml_dtype.block_size().max(1);
    let row = info.shape.dims().last().copied().unwrap_or(1);
    if n == 0 {
        return Err(LocalError::Gguf(format!("tensor {name} has no elements")));
    }
    if row % block != 0 {
        return Err(LocalError::Gguf(format!(
            "tensor {name} has rows of {row} values, not whole {:?} blocks of {block}",
            info.ggml_dtype
        )));
    }
    (n / block)
        .checked_mul(info.ggml_dtype.type_size())
        .ok_or_else(|| LocalError::Gguf(format!("tensor {name} is too large")))
}

/// A tensor's bytes in the file, its type and dimensions; an error (never a panic) when its
/// size overflows or it lies outside the file.
pub(crate) fn tensor_bytes<'a>(
    ct: &Content,
    bytes: &'a [u8],
    name: &str,
) -> Result<(&'a [u8], GgmlDType, Vec<usize>), LocalError> {
    let info = ct
        .tensor_infos
        .get(name)
        .ok_or_else(|| LocalError::Gguf(format!("missing tensor {name}")))?;
    let dims = info.shape.dims().to_vec();
    let size = tensor_size(name, info)?;
    let start =
        usize::try_from(ct.tensor_data_offset.saturating_add(info.offset)).unwrap_or(usize::MAX);
    let data = bytes
        .get(start..start.saturating_add(size))
        .ok_or_else(|| LocalError::Gguf(format!("tensor {name} lies outside the file")))?;
    Ok((data, info.ggml_dtype, dims))
}

/// Where a model's tensors come from: the whole file in memory (each tensor is copied out of
/// it), or the tensors of a streamed file, each already in a buffer of its own, which the
/// matrix that keeps it takes over (no copy: loading needs about the file's size in memory,
/// not twice it).
pub enum Tensors<'a> {
    File(&'a [u8]),
    Owned(HashMap<String, Vec<u8>>),
}

impl<'a> Tensors<'a> {
    /// A tensor's bytes (handed over when owned), type and dimensions.
    fn take(
        &mut self,
        ct: &Content,
        name: &str,
    ) -> Result<(Cow<'a, [u8]>, GgmlDType, Vec<usize>), LocalError> {
        match self {
            Tensors::File(bytes) => {
                let bytes: &'a [u8] = bytes;
                let (data, dtype, dims) = tensor_bytes(ct, bytes, name)?;
                Ok((Cow::Borrowed(data), dtype, dims))
            }
            Tensors::Owned(map) => {
                let info = ct
                    .tensor_infos
                    .get(name)
                    .ok_or_else(|| LocalError::Gguf(format!("missing tensor {name}")))?;
                let data = map
                    .remove(name)
                    .ok_or_else(|| LocalError::Gguf(format!("tensor {name} was not received")))?;
                Ok((Cow::Owned(data), info.ggml_dtype, info.shape.dims().to_vec()))
            }
        }
    }
}

/// A matrix in its file layout (the token embedding when it is only looked up).
fn load_mat_as_stored(ct: &Content, src: &mut Tensors, name: &str) -> Result<QMat, LocalError> {
    let (data, dtype, dims) = src.take(ct, name)?;
    let kind =
        kind_of(dtype).ok_or_else(|| {
            LocalError::Unsupported(format!(
                "tensor {name} has type {dtype:?}, which this runtime does not implement"
            ))
        })?;
    let (rows, cols) = match dims.as_slice() {
        [r, c] => (*r, *c),
        _ => return Err(LocalError::Unsupported(format!("{name} is not a matrix"))),
    };
    QMat::from_gguf(kind, data, rows, cols)
}

/// A matrix that is multiplied: Q5_0 is widened to one signed byte per value (the Q8_0 layout,
/// same scale), so its products run on the Q8_0 kernels (SIMD in wasm); the numbers are the
/// same as ggml's Q5_0 · Q8_0 (exact integer sums, then `sumi · (d_w · d_x)`).
fn load_mat(ct: &Content, src: &mut Tensors, name: &str) -> Result<QMat, LocalError> {
    let m = load_mat_as_stored(ct, src, name)?;
    Ok(if m.kind == Kind::Q5_0 { m.widen_q5_0() } else { m })
}

fn load_vec(ct: &Content, src: &mut Tensors, name: &str) -> Result<Vec<f32>, LocalError> {
    let (data, dtype, _) = src.take(ct, name)?;
    match dtype {
        GgmlDType::F32 => Ok(data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()),
        GgmlDType::F16 => Ok(data
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect()),
        other => Err(LocalError::Unsupported(format!("{name} is {other:?}"))),
    }
}

fn load_opt_vec(ct: &Content, src: &mut Tensors, name: &str) -> Result<Option<Vec<f32>>, LocalError> {
    if ct.tensor_infos.contains_key(name) {
        load_vec(ct, src, name).map(Some)
    } else {
        Ok(None)
    }
}

fn md_u(ct: &Content, key: &str) -> Option<usize> {
    let v = ct.metadata.get(key)?;
    v.to_u32()
        .map(|x| x as usize)
        .or_else(|_| v.to_u64().map(|x| x as usize))
        .ok()
}

fn md_f(ct: &Content, key: &str) -> Option<f32> {
    let v = ct.metadata.get(key)?;
    v.to_f32().or_else(|_| v.to_f64().map(|x| x as f32)).ok()
}

/// RMS-norm each row of `rows` in place with `w`, when there is a `w` (gemma3's post norms).
fn post_norm(rows: &mut [Vec<f32>], w: &Option<Vec<f32>>, tmp: &mut [f32], eps: f32) {
    if let Some(w) = w {
        for row in rows.iter_mut() {
            tmp.copy_from_slice(row);
            rmsnorm(row, tmp, w, eps);
        }
    }
}

/// GELU as ggml's CPU backend computes it (`ggml_vec_geglu_f32` with `GGML_GELU_FP16`): 0 below
/// -10, x above 10, otherwise the tanh approximation looked up at x rounded to f16, the result
/// rounded to f16.
fn gelu_f16_table(x: f32) -> f32 {
    if x <= -10.0 {
        return 0.0;
    }
    if x >= 10.0 {
        return x;
    }
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    const GELU_COEF_A: f32 = 0.044715;
    let v = round_f16(x);
    round_f16(0.5 * v * (1.0 + libm::tanhf(SQRT_2_OVER_PI * v * (1.0 + GELU_COEF_A * v * v))))
}

fn rmsnorm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    let sum: f64 = x.iter().map(|v| f64::from(v * v)).sum();
    let mean = (sum / x.len().max(1) as f64) as f32;
    let scale = 1.0 / libm::sqrtf(mean + eps);
    for ((o, v), g) in out.iter_mut().zip(x).zip(w) {
        *o = v * scale * g;
    }
}

impl FastLlama {
    /// Build from a parsed GGUF and its bytes; `Err(Unsupported)` when a tensor type or the
    /// architecture is not covered (the caller then uses candle).
    pub fn new(ct: &Content, mut tensors: Tensors, max_ctx: usize) -> Result<Self, LocalError> {
        let src = &mut tensors;
        let arch = ct
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let arch = crate::arch::Arch::from_gguf(&arch)?;
        crate::arch::refuse_unknown(ct, arch)?;
        let a = arch.name();
        let need = |k: &str| {
            md_u(ct, &format!("{a}.{k}")).ok_or_else(|| LocalError::Gguf(format!("missing {a}.{k}")))
        };
        let dim = need("embedding_length")?;
        let n_heads = need("attention.head_count")?;
        let n_kv_heads = md_u(ct, &format!("{a}.attention.head_count_kv")).unwrap_or(n_heads);
        let n_layers = need("block_count")?;
        let hidden = need("feed_forward_length")?;
        let eps = md_f(ct, &format!("{a}.attention.layer_norm_rms_epsilon")).unwrap_or(1e-5);
        let base = md_f(ct, &format!("{a}.rope.freq_base")).unwrap_or(10000.0);
        if n_heads == 0
            || n_kv_heads == 0
            || n_heads % n_kv_heads != 0
            || dim % QK != 0
            || hidden % QK != 0
        {
            return Err(LocalError::Unsupported("unusual head layout".into()));
        }
        if md_u(ct, &format!("{a}.expert_count")).unwrap_or(0) > 1 {
            return Err(LocalError::Unsupported("mixture of experts".into()));
        }
        // The head size: the file's `attention.key_length`, else embedding / heads (as
        // llama.cpp reads it); V heads must be the same size.
        let head_dim = match md_u(ct, &format!("{a}.attention.key_length")) {
            Some(k) => k,
            None if dim % n_heads == 0 => dim / n_heads,
            None => return Err(LocalError::Unsupported("unusual head layout".into())),
        };
        // Bounded before any product of sizes (a file's numbers are a stranger's).
        let q_dim = head_dim.checked_mul(n_heads).filter(|q| *q <= dim.saturating_mul(16));
        let Some(q_dim) = q_dim.filter(|q| head_dim <= 1024 && head_dim % 2 == 0 && q % QK == 0)
        else {
            return Err(LocalError::Unsupported(format!(
                "head size {head_dim} with {n_heads} heads"
            )));
        };
        if head_dim == 0 || n_kv_heads > n_heads {
            return Err(LocalError::Unsupported("unusual head layout".into()));
        }
        let rope_dim = md_u(ct, &format!("{a}.rope.dimension_count")).unwrap_or(head_dim);
        if rope_dim != head_dim {
            return Err(LocalError::Unsupported("partial rotary embedding".into()));
        }
        if md_u(ct, &format!("{a}.attention.value_length")).is_some_and(|v| v != head_dim) {
            return Err(LocalError::Unsupported(format!(
                "{a}.attention.value_length differs from the key length"
            )));
        }
        let output = if ct.tensor_infos.contains_key("output.weight") {
            Some(load_mat(ct, src, "output.weight")?)
        } else {
            None
        };
        // Only looked up (rows dequantised) when the file has its own output matrix.
        let embd = if output.is_some() {
            load_mat_as_stored(ct, src, "token_embd.weight")?
        } else {
            load_mat(ct, src, "token_embd.weight")?
        };
        let vocab = output.as_ref().map_or(embd.rows, |o| o.rows);
        let mut layers = Vec::with_capacity(n_layers);
        for i in 0..n_layers {
            let p = |s: &str| format!("blk.{i}.{s}");
            layers.push(Layer {
                attn_norm: load_vec(ct, src, &p("attn_norm.weight"))?,
                wq: load_mat(ct, src, &p("attn_q.weight"))?,
                wk: load_mat(ct, src, &p("attn_k.weight"))?,
                wv: load_mat(ct, src, &p("attn_v.weight"))?,
                bq: load_opt_vec(ct, src, &p("attn_q.bias"))?,
                bk: load_opt_vec(ct, src, &p("attn_k.bias"))?,
                bv: load_opt_vec(ct, src, &p("attn_v.bias"))?,
                q_norm: load_opt_vec(ct, src, &p("attn_q_norm.weight"))?,
                k_norm: load_opt_vec(ct, src, &p("attn_k_norm.weight"))?,
                attn_post_norm: load_opt_vec(ct, src, &p("post_attention_norm.weight"))?,
                ffn_post_norm: load_opt_vec(ct, src, &p("post_ffw_norm.weight"))?,
                wo: load_mat(ct, src, &p("attn_output.weight"))?,
                ffn_norm: load_vec(ct, src, &p("ffn_norm.weight"))?,
                gate: load_mat(ct, src, &p("ffn_gate.weight"))?,
                up: load_mat(ct, src, &p("ffn_up.weight"))?,
                down: load_mat(ct, src, &p("ffn_down.weight"))?,
            });
        }
        let out_norm = load_vec(ct, src, "output_norm.weight")?;
        let kv_dim = head_dim * n_kv_heads;
        if arch.has_qkv_bias()
            && layers
                .iter()
                .any(|l| l.bq.is_none() || l.bk.is_none() || l.bv.is_none())
        {
            return Err(LocalError::Gguf(format!("{a} needs attention Q/K/V biases")));
        }
        if arch.has_qk_norm() != layers.iter().all(|l| l.q_norm.is_some() && l.k_norm.is_some())
            || (!arch.has_qk_norm() && layers.iter().any(|l| l.q_norm.is_some() || l.k_norm.is_some()))
        {
            return Err(LocalError::Gguf(format!(
                "{a}: the attention Q/K norms must be in every layer{}",
                if arch.has_qk_norm() { "" } else { " or in none" }
            )));
        }
        for l in &layers {
            let ok = l.wq.rows == q_dim
                && l.wq.cols == dim
                && l.wk.rows == kv_dim
                && l.wk.cols == dim
                && l.wv.rows == kv_dim
                && l.wv.cols == dim
                && l.wo.rows == dim
                && l.wo.cols == q_dim
                && l.q_norm.as_ref().is_none_or(|w| w.len() == head_dim)
                && l.k_norm.as_ref().is_none_or(|w| w.len() == head_dim)
                && l.attn_post_norm.as_ref().is_none_or(|w| w.len() == dim)
                && l.ffn_post_norm.as_ref().is_none_or(|w| w.len() == dim)
                && l.gate.rows == hidden
                && l.up.rows == hidden
                && l.down.rows == dim
                && l.down.cols == hidden
                && l.attn_norm.len() == dim
                && l.ffn_norm.len() == dim
                && l.bq.as_ref().is_none_or(|b| b.len() == q_dim)
                && l.bk.as_ref().is_none_or(|b| b.len() == kv_dim)
                && l.bv.as_ref().is_none_or(|b| b.len() == kv_dim);
            if !ok {
                return Err(LocalError::Gguf(
                    "tensor shapes do not match the header".into(),
                ));
            }
        }
        if embd.cols != dim || out_norm.len() != dim {
            return Err(LocalError::Gguf(
                "embedding shape does not match the header".into(),
            ));
        }
        // ggml: theta_scale = base^(-2/n_dims), theta multiplied step by step in f32.
        let theta_scale = libm::powf(base, -2.0 / head_dim as f32);
        let rope_theta = (0..head_dim / 2)
            .scan(1.0f32, |t, _| {
                let cur = *t;
                *t *= theta_scale;
                Some(cur)
            })
            .collect();
        let gemma = if arch.is_gemma3() {
            let window = md_u(ct, &format!("{a}.attention.sliding_window")).unwrap_or(0);
            let pattern_key = format!("{a}.attention.sliding_window_pattern");
            let period = match (ct.metadata.contains_key(&pattern_key), md_u(ct, &pattern_key)) {
                (false, _) => 6,
                (true, Some(p)) => p,
                (true, None) => {
                    return Err(LocalError::Unsupported(format!(
                        "{pattern_key} as a per-layer list"
                    )))
                }
            };
            let base_swa = md_f(ct, &format!("{a}.rope.freq_base_swa")).unwrap_or(10000.0);
            // llama.cpp: 27B (62 layers) scales by embedding / heads, the others by head size.
            let q_scale = if n_layers == 62 {
                1.0 / libm::sqrtf((dim / n_heads) as f32)
            } else {
                1.0 / libm::sqrtf(head_dim as f32)
            };
            Some(Gemma {
                swa: (0..n_layers)
                    .map(|il| window > 0 && (period == 0 || il % period < period - 1))
                    .collect(),
                window,
                rope_step_swa: libm::powf(base_swa, -2.0 / head_dim as f32),
                embd_scale: libm::sqrtf(dim as f32),
                q_scale,
            })
        } else {
            None
        };
        if arch.is_gemma3()
            != layers
                .iter()
                .all(|l| l.attn_post_norm.is_some() && l.ffn_post_norm.is_some())
        {
            return Err(LocalError::Gguf(format!(
                "{a}: the post-attention and post-FFN norms must be in every layer (gemma3) or none"
            )));
        }
        let rope_freqs = load_opt_vec(ct, src, "rope_freqs.weight")?;
        if let Some(f) = &rope_freqs {
            if f.len() != head_dim / 2 || f.iter().any(|x| !x.is_finite() || *x <= 0.0) {
                return Err(LocalError::Gguf(format!(
                    "rope_freqs.weight must hold {} positive factors",
                    head_dim / 2
                )));
            }
        }
        let k_dim = Needs::of(
            std::iter::once(output.as_ref().unwrap_or(&embd))
                .chain(layers.iter().flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.gate, &l.up])),
        );
        let k_q = Needs::of(layers.iter().map(|l| &l.wo));
        let k_hidden = Needs::of(layers.iter().map(|l| &l.down));
        Ok(Self {
            rope_neox: arch.rope_neox(),
            gemma,
            k_dim,
            k_q,
            q_dim,
            k_hidden,
            dim,
            n_heads,
            n_kv_heads,
            head_dim,
            hidden,
            eps,
            vocab,
            rope_theta,
            rope_freqs,
            embd,
            output,
            out_norm,
            k_cache: (0..n_layers).map(|_| Vec::new()).collect(),
            v_cache: (0..n_layers).map(|_| Vec::new()).collect(),
            layers,
            max_ctx,
            len: 0,
            history: Vec::new(),
            att: Vec::new(),
        })
    }

    pub fn vocab(&self) -> usize {
        self.vocab
    }

    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Forget every cached position from `len` on.
    fn truncate(&mut self, len: usize) {
        let len = len.min(self.len);
        let kv_dim = self.head_dim * self.n_kv_heads;
        self.len = len;
        self.history.truncate(len);
        for c in self.k_cache.iter_mut().chain(self.v_cache.iter_mut()) {
            c.truncate(len * kv_dim);
        }
    }

    /// Feed `tokens` at position `pos` (what the cache holds from `pos` on is replaced) and
    /// return the logits after the last. Cached positions that already hold the same tokens are
    /// kept, not recomputed (a prompt sharing a prefix with the previous one): the numbers are
    /// the same, since every position is computed the same way in or out of a batch.
    pub fn forward_from(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<f32>, LocalError> {
        if pos > self.len {
            return Err(LocalError::Runtime(format!(
                "position {pos} is past the {} cached ones",
                self.len
            )));
        }
        let mut same = 0;
        while same + 1 < tokens.len()
            && self.history.get(pos + same).is_some_and(|t| Some(t) == tokens.get(same))
        {
            same += 1;
        }
        self.truncate(pos + same);
        self.forward(tokens.get(same..).unwrap_or(&[]), true)?
            .ok_or_else(|| LocalError::Runtime("no logits".into()))
    }

    /// (sin, cos) per rotary pair at `pos`: theta = pos · scale^i, accumulated as ggml does
    /// (start at pos, multiply by the scale each step, in f32), divided by the pair's Llama 3
    /// factor if the file has them.
    fn rope_table(&self, pos: usize) -> Vec<(f32, f32)> {
        self.rope_table_with(pos, self.rope_theta.get(1).copied().unwrap_or(1.0))
    }

    /// [`Self::rope_table`] with the RoPE step `scale` (a layer with a base of its own).
    fn rope_table_with(&self, pos: usize, scale: f32) -> Vec<(f32, f32)> {
        let mut cs = Vec::with_capacity(self.head_dim / 2);
        let mut theta = pos as f32;
        for i in 0..self.head_dim / 2 {
            // ggml divides the angle by the pair's factor (freq_scale 1, no extrapolation mix).
            let angle = match &self.rope_freqs {
                Some(f) => theta / f.get(i).copied().unwrap_or(1.0),
                None => theta,
            };
            cs.push((libm::sinf(angle), libm::cosf(angle)));
            theta *= scale;
        }
        cs
    }

    fn rope(&self, v: &mut [f32], cs: &[(f32, f32)]) {
        if self.rope_neox {
            let half = self.head_dim / 2;
            for head in v.chunks_exact_mut(self.head_dim) {
                let (lo, hi) = head.split_at_mut(half);
                for ((a, b), (s, c)) in lo.iter_mut().zip(hi.iter_mut()).zip(cs.iter().copied()) {
                    let (x0, x1) = (*a, *b);
                    *a = x0 * c - x1 * s;
                    *b = x0 * s + x1 * c;
                }
            }
            return;
        }
        for head in v.chunks_exact_mut(self.head_dim) {
            for (pair, (s, c)) in head.chunks_exact_mut(2).zip(cs.iter().copied()) {
                let (a, b) = (pair[0], pair[1]);
                pair[0] = a * c - b * s;
                pair[1] = a * s + b * c;
            }
        }
    }

    /// Feed `tokens` after what is already in the cache; returns the logits after the last.
    /// Feed `tokens` after what is already in the cache; returns the logits after the last.
    /// Prompts run in batches (each weight row is read once per batch); every token's numbers
    /// are the same as when fed one by one.
    pub fn forward(
        &mut self,
        tokens: &[u32],
        want_logits: bool,
    ) -> Result<Option<Vec<f32>>, LocalError> {
        let mut logits = None;
        // As few batches as BATCH allows, of even sizes (41 tokens: 21 + 20, not 32 + 9): a
        // block's unpacking is shared by a batch's tokens, and a short last batch shares it
        // among few. Each token's numbers do not depend on its batch.
        let size = tokens.len().div_ceil(tokens.len().div_ceil(BATCH).max(1)).max(1);
        let n_chunks = tokens.len().div_ceil(size);
        for (ci, chunk) in tokens.chunks(size).enumerate() {
            logits = self.forward_batch(chunk, want_logits && ci + 1 == n_chunks)?;
        }
        Ok(logits)
    }

    /// Attention of one query (already rotated) at position `pos` of layer `li` into `out`.
    /// Attention of one token (query `q` at `pos`) over layer `li`'s cache; the heads are spread
    /// over the pool's threads (each head computed the same way whichever thread runs it).
    /// `scratch` holds every head's rounded query and scores side by side.
    fn attend(&self, li: usize, q: &[f32], pos: usize, scratch: &mut Vec<f32>, out: &mut [f32]) {
        let hd = self.head_dim;
        let (Some(kc), Some(vc)) = (self.k_cache.get(li), self.v_cache.get(li)) else {
            return;
        };
        let span = hd + pos + 1;
        scratch.resize(self.n_heads * span, 0.0);
        let (sp, op) = (Out::of(scratch), Out::of(out));
        pool::par_chunks(self.n_heads, &|h| {
            // SAFETY: head h alone uses scratch[h·span, (h+1)·span) and out[h·hd, (h+1)·hd);
            // both outlive par_chunks.
            let (s, o) = unsafe { (sp.slice(h * span, span), op.slice(h * hd, hd)) };
            let (qh, att) = s.split_at_mut(hd.min(s.len()));
            self.attend_head(li, h, q, pos, kc, vc, qh, att, o);
        });
    }

    /// One head of [`Self::attend`]. As llama.cpp without flash attention: Q rounded to f16
    /// against the f16 K cache, softmax in f32 (sum in f64), probabilities rounded to f16
    /// against the f16 V cache, f32 accumulation. The scores are plain running sums: an
    /// interleaved order (eight sums, faster) moved the 135M model's option read by 0.08 against
    /// llama.cpp's (this model is chaotic under 8-bit activations; tests/against_llama_cpp.rs).
    #[allow(clippy::too_many_arguments)]
    fn attend_head(
        &self,
        li: usize,
        h: usize,
        q: &[f32],
        pos: usize,
        kc: &[f32],
        vc: &[f32],
        qh: &mut [f32],
        att: &mut [f32],
        o: &mut [f32],
    ) {
        let (hd, kv_dim) = (self.head_dim, self.head_dim * self.n_kv_heads);
        let group = (self.n_heads / self.n_kv_heads.max(1)).max(1);
        // Gemma scales Q before the attention (then the scores are not scaled again).
        let (pre, scale) = match &self.gemma {
            Some(g) => (g.q_scale, 1.0),
            None => (1.0, 1.0 / libm::sqrtf(hd as f32)),
        };
        // A sliding-window layer sees positions pos - window + 1 ..= pos.
        let first = match &self.gemma {
            Some(g) if g.swa.get(li).copied().unwrap_or(false) => (pos + 1).saturating_sub(g.window),
            _ => 0,
        };
        let kvh = h / group;
        for (d, v) in qh.iter_mut().zip(q.get(h * hd..(h + 1) * hd).unwrap_or(&[])) {
            *d = round_f16(*v * pre);
        }
        let at = |t: usize| t * kv_dim + kvh * hd..t * kv_dim + (kvh + 1) * hd;
        let score = |t: usize| -> f32 {
            let kt = kc.get(at(t)).unwrap_or(&[]);
            qh.iter().zip(kt).map(|(a, b)| a * b).sum::<f32>() * scale
        };
        // Four positions at a time, each still one running sum in the order above (the same
        // bits), as four independent chains the processor overlaps.
        // The start of `Iterator::sum` for f32 (so an empty or all-zero score has its sign too).
        let zero: f32 = std::iter::empty::<f32>().sum();
        let end = (pos + 1).min(att.len());
        let mut t = first;
        while t + 4 <= end {
            let rows = [t, t + 1, t + 2, t + 3].map(|u| kc.get(at(u)).unwrap_or(&[]));
            if rows.iter().all(|r| r.len() == qh.len()) {
                let mut s = [zero; 4];
                for ((((q, k0), k1), k2), k3) in qh.iter().zip(rows[0]).zip(rows[1]).zip(rows[2]).zip(rows[3]) {
                    s[0] += q * k0;
                    s[1] += q * k1;
                    s[2] += q * k2;
                    s[3] += q * k3;
                }
                for (a, v) in att[t..t + 4].iter_mut().zip(s) {
                    *a = v * scale;
                }
            } else {
                for u in t..t + 4 {
                    att[u] = score(u);
                }
            }
            t += 4;
        }
        for u in t..end {
            att[u] = score(u);
        }
        let mut max = f32::NEG_INFINITY;
        for a in att.iter().take(pos + 1).skip(first) {
            max = max.max(*a);
        }
        let mut sum = 0.0f64;
        for a in att.iter_mut().take(pos + 1).skip(first) {
            *a = libm::expf(*a - max);
            sum += f64::from(*a);
        }
        let inv = if sum > 0.0 { (1.0 / sum) as f32 } else { 0.0 };
        o.iter_mut().for_each(|v| *v = 0.0);
        for (t, a) in att.iter().enumerate().take(pos + 1).skip(first) {
            let w = round_f16(a * inv);
            for (ov, b) in o.iter_mut().zip(vc.get(at(t)).unwrap_or(&[])) {
                *ov += w * b;
            }
        }
    }

    fn forward_batch(
        &mut self,
        tokens: &[u32],
        want_logits: bool,
    ) -> Result<Option<Vec<f32>>, LocalError> {
        let n = tokens.len();
        let start = self.len;
        if start + n > self.max_ctx {
            return Err(LocalError::ContextFull {
                needed: start + n,
                limit: self.max_ctx,
            });
        }
        if n == 0 {
            return Ok(None);
        }
        let (dim, kv_dim, hidden) = (self.dim, self.head_dim * self.n_kv_heads, self.hidden);
        let mut xs: Vec<Vec<f32>> = Vec::with_capacity(n);
        for &t in tokens {
            if t as usize >= self.embd.rows {
                return Err(LocalError::Runtime(format!(
                    "token id {t} outside the vocabulary"
                )));
            }
            let mut x = vec![0.0f32; dim];
            self.embd.row_f32(t as usize, &mut x);
            if let Some(g) = &self.gemma {
                x.iter_mut().for_each(|v| *v *= g.embd_scale);
            }
            xs.push(x);
        }
        let mut xb = vec![0.0f32; dim];
        let q_dim = self.q_dim;
        let mut qa: Vec<QAct> = (0..n).map(|_| QAct::with_k(dim, self.k_dim)).collect();
        let mut qh: Vec<QAct> = (0..n).map(|_| QAct::with_k(hidden, self.k_hidden)).collect();
        let mut qo: Vec<QAct> = (0..n).map(|_| QAct::with_k(q_dim, self.k_q)).collect();
        let mut q = vec![vec![0.0f32; q_dim]; n];
        let mut k = vec![vec![0.0f32; kv_dim]; n];
        let mut v = vec![vec![0.0f32; kv_dim]; n];
        let mut att_out = vec![vec![0.0f32; q_dim]; n];
        let mut proj = vec![vec![0.0f32; dim]; n];
        let mut head = vec![0.0f32; self.head_dim];
        let mut h1 = vec![vec![0.0f32; hidden]; n];
        let mut h2 = vec![vec![0.0f32; hidden]; n];
        let mut att = std::mem::take(&mut self.att);
        let tables: Vec<Vec<(f32, f32)>> = (0..n).map(|t| self.rope_table(start + t)).collect();
        let tables_swa: Vec<Vec<(f32, f32)>> = match &self.gemma {
            Some(g) if g.swa.contains(&true) => (0..n)
                .map(|t| self.rope_table_with(start + t, g.rope_step_swa))
                .collect(),
            _ => Vec::new(),
        };
        for li in 0..self.layers.len() {
            let Some(l) = self.layers.get(li) else { break };
            let swa = self
                .gemma
                .as_ref()
                .is_some_and(|g| g.swa.get(li).copied().unwrap_or(false));
            let tables = if swa { &tables_swa } else { &tables };
            for (x, a) in xs.iter().zip(qa.iter_mut()) {
                rmsnorm(&mut xb, x, &l.attn_norm, self.eps);
                a.quantize(&xb);
            }
            matmul(&l.wq, &qa, &mut q);
            matmul(&l.wk, &qa, &mut k);
            matmul(&l.wv, &qa, &mut v);
            for (bias, out) in [(&l.bq, &mut q), (&l.bk, &mut k), (&l.bv, &mut v)] {
                if let Some(b) = bias {
                    for row in out.iter_mut() {
                        row.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    }
                }
            }
            for t in 0..n {
                let (Some(qt), Some(kt), Some(vt), Some(cs)) =
                    (q.get_mut(t), k.get_mut(t), v.get(t), tables.get(t))
                else {
                    break;
                };
                // QK-norm (qwen3): each head of Q and K RMS-normed with its weights, before RoPE.
                for (x, w) in [(&mut *qt, &l.q_norm), (&mut *kt, &l.k_norm)] {
                    if let Some(w) = w {
                        for h in x.chunks_exact_mut(self.head_dim) {
                            head.copy_from_slice(h);
                            rmsnorm(h, &head, w, self.eps);
                        }
                    }
                }
                self.rope(qt, cs);
                self.rope(kt, cs);
                if let (Some(kc), Some(vc)) = (self.k_cache.get_mut(li), self.v_cache.get_mut(li)) {
                    kc.extend(kt.iter().map(|a| round_f16(*a)));
                    vc.extend(vt.iter().map(|a| round_f16(*a)));
                }
                if let (Some(qt), Some(o)) = (q.get(t), att_out.get_mut(t)) {
                    self.attend(li, qt, start + t, &mut att, o);
                }
            }
            for (o, a) in att_out.iter().zip(qo.iter_mut()) {
                a.quantize(o);
            }
            matmul(&l.wo, &qo, &mut proj);
            post_norm(&mut proj, &l.attn_post_norm, &mut xb, self.eps);
            for (x, d) in xs.iter_mut().zip(&proj) {
                x.iter_mut().zip(d).for_each(|(a, b)| *a += b);
            }
            for (x, a) in xs.iter().zip(qa.iter_mut()) {
                rmsnorm(&mut xb, x, &l.ffn_norm, self.eps);
                a.quantize(&xb);
            }
            matmul(&l.gate, &qa, &mut h1);
            matmul(&l.up, &qa, &mut h2);
            let gelu = self.gemma.is_some();
            for ((g, u), a) in h1.iter_mut().zip(&h2).zip(qh.iter_mut()) {
                gate_and_quantize(g, u, gelu, a);
            }
            matmul(&l.down, &qh, &mut proj);
            post_norm(&mut proj, &l.ffn_post_norm, &mut xb, self.eps);
            for (x, d) in xs.iter_mut().zip(&proj) {
                x.iter_mut().zip(d).for_each(|(a, b)| *a += b);
            }
        }
        self.att = att;
        self.len = start + n;
        self.history.extend_from_slice(tokens);
        if !want_logits {
            return Ok(None);
        }
        let Some(last) = xs.last() else {
            return Ok(None);
        };
        rmsnorm(&mut xb, last, &self.out_norm, self.eps);
        let mut a = QAct::with_k(dim, self.k_dim);
        a.quantize(&xb);
        let mut logits = vec![0.0f32; self.vocab];
        let w = self.output.as_ref().unwrap_or(&self.embd);
        matvec(w, &a, &mut logits);
        Ok(Some(logits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(x: f32) -> [u8; 2] {
        half::f16::from_f32(x).to_bits().to_le_bytes()
    }

    /// One Q4_1 row of 64 values (2 blocks) with known nibbles, against a float dot product.
    #[test]
    fn q4_1_layout_and_dot_product() {
        let mut raw = Vec::new();
        let mut want = Vec::new();
        for (d, m) in [(0.5f32, -1.0f32), (0.25, 2.0)] {
            raw.extend_from_slice(&f16_bytes(d));
            raw.extend_from_slice(&f16_bytes(m));
            let nib = |j: usize| (j * 7 + 3) % 16;
            for j in 0..16 {
                raw.push((nib(j) as u8) | ((nib(j + 16) as u8) << 4));
            }
            for j in 0..32 {
                want.push(d * nib(j) as f32 + m);
            }
        }
        let w = QMat::from_gguf(Kind::Q4_1, Cow::Borrowed(&raw), 1, 64).expect("q4_1");
        let mut row = vec![0.0; 64];
        w.row_f32(0, &mut row);
        assert_eq!(row, want);
        let x: Vec<f32> = (0..64).map(|i| ((i as f32) * 0.37).sin()).collect();
        let mut qa = QAct::new(64);
        qa.quantize(&x);
        let mut out = [0.0f32];
        matvec(&w, &qa, &mut out);
        let exact: f32 = want.iter().zip(&x).map(|(a, b)| a * b).sum();
        assert!(
            (out[0] - exact).abs() < 0.05 * exact.abs().max(1.0),
            "{} vs {exact}",
            out[0]
        );
    }

    #[test]
    fn q8_0_matches_dequantised_dot() {
        let mut raw = Vec::new();
        raw.extend_from_slice(&f16_bytes(0.1));
        raw.extend((0..32).map(|j| (j as i8 - 16) as u8));
        let w = QMat::from_gguf(Kind::Q8_0, Cow::Borrowed(&raw), 1, 32).expect("q8_0");
        let x: Vec<f32> = (0..32).map(|i| 1.0 - i as f32 / 16.0).collect();
        let mut qa = QAct::new(32);
        qa.quantize(&x);
        let mut out = [0.0f32];
        matvec(&w, &qa, &mut out);
        let mut row = vec![0.0; 32];
        w.row_f32(0, &mut row);
        let exact: f32 = row.iter().zip(&x).map(|(a, b)| a * b).sum();
        assert!(
            (out[0] - exact).abs() < 0.02 * exact.abs().max(1.0),
            "{} vs {exact}",
            out[0]
        );
    }

    /// `tokens` activations of `cols` values `f(i, t)`, quantised (with the Q8_K form if `k`).
    fn quantized(cols: usize, tokens: usize, k: bool, f: impl Fn(usize, usize) -> f32) -> Vec<QAct> {
        (0..tokens)
            .map(|t| {
                let x: Vec<f32> = (0..cols).map(|i| f(i, t)).collect();
                let mut qa = QAct::with_k(cols, Needs { k, plain: true });
                qa.quantize(&x);
                qa
            })
            .collect()
    }

    /// Every row of `w` times every token, one dot product at a time.
    fn row_by_row(w: &QMat, xs: &[QAct]) -> Vec<Vec<f32>> {
        xs.iter().map(|x| (0..w.rows).map(|r| row_dot(w, r, x)).collect()).collect()
    }

    /// A prompt batch through a k-quant matrix (each block decoded once for all tokens) gives
    /// every token the bits of its own row-by-row products.
    #[test]
    fn k_quant_batches_give_each_tokens_row_dots() {
        let (rows, cols) = (70usize, 2 * QK_K);
        for k in [KQuant::Q4K, KQuant::Q5K, KQuant::Q6K] {
            let mut raw = Vec::new();
            for r in 0..rows {
                for b in 0..cols / QK_K {
                    let mut block: Vec<u8> = (0..k.block_bytes()).map(|j| ((r * 31 + j * 7 + b * 13) % 256) as u8).collect();
                    let d = f16_bytes(0.002 * (1 + (r + b) % 7) as f32);
                    match k {
                        KQuant::Q6K => block[208..210].copy_from_slice(&d),
                        _ => {
                            block[0..2].copy_from_slice(&d);
                            block[2..4].copy_from_slice(&f16_bytes(0.001 * (1 + r % 3) as f32));
                        }
                    }
                    raw.extend(block);
                }
            }
            let w = QMat::from_gguf(Kind::K(k), Cow::Borrowed(&raw), rows, cols).expect("k-quant");
            let xs = quantized(cols, 5, true, |i, t| ((i * (t + 2)) as f32 * 0.13).sin() * (t + 1) as f32);
            let want = row_by_row(&w, &xs);
            assert!(want.iter().flatten().all(|v| v.is_finite() && *v != 0.0));
            let mut outs = vec![vec![0.0f32; rows]; xs.len()];
            matmul(&w, &xs, &mut outs);
            assert_eq!(outs, want, "{k:?}");
        }
    }

    #[test]
    fn the_gate_spread_over_threads_gives_the_same_bits() {
        std::thread::spawn(pool::helper_loop);
        while pool::helpers() == 0 {
            std::thread::yield_now();
        }
        // 8,960 values (35 Q8_K blocks: nine chunks, the last one shorter), and 8,192 (whole
        // chunks); 8,000 is no whole number of Q8_K blocks and takes the one-pass path.
        for n in [8960usize, 8192, 8000] {
            let g0: Vec<f32> = (0..n).map(|i| ((i * 37 % 1013) as f32 * 0.011).sin() * 3.0).collect();
            let u: Vec<f32> = (0..n).map(|i| ((i * 11 % 997) as f32 * 0.017).cos()).collect();
            for gelu in [false, true] {
                for need in [Needs { k: true, plain: false }, Needs { k: false, plain: true }, Needs { k: true, plain: true }] {
                    // The reference: one pass over the whole vector, as before the chunks.
                    let mut want_g = g0.clone();
                    for (gv, uv) in want_g.iter_mut().zip(&u) {
                        *gv = if gelu { gelu_f16_table(*gv) * uv } else { *gv / (1.0 + libm::expf(-*gv)) * uv };
                    }
                    let mut want = QAct::with_k(n, need);
                    want.quantize(&want_g);
                    let mut g = g0.clone();
                    let mut a = QAct::with_k(n, need);
                    gate_and_quantize(&mut g, &u, gelu, &mut a);
                    let ctx = format!("n {n}, gelu {gelu}, {need:?}");
                    assert_eq!(g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want_g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{ctx}");
                    assert_eq!((&a.q, &a.d, &a.s), (&want.q, &want.d, &want.s), "{ctx}");
                    assert_eq!(a.k.is_some(), need.k && n % QK_K == 0, "{ctx}");
                    if let (Some(k), Some(wk)) = (&a.k, &want.k) {
                        assert_eq!((&k.q, &k.d, &k.bsums, &k.bsums32), (&wk.q, &wk.d, &wk.bsums, &wk.bsums32), "{ctx}");
                    }
                }
            }
        }
    }

    #[test]
    fn rows_spread_over_threads_give_the_same_bits() {
        // Q4_1 rows of 64 with varied scales: more than one chunk per thread, and a shorter
        // last chunk, in the one-token product (bigger chunks) and in the batch product.
        let cols = 64usize;
        let rows = 3 * rows_per_chunk_one(cols) + 17;
        assert!(rows > 4 * ROWS_PER_CHUNK);
        let mut raw = Vec::new();
        for r in 0..rows {
            for b in 0..cols / QK {
                raw.extend_from_slice(&f16_bytes(0.01 * (1 + (r * 3 + b) % 17) as f32));
                raw.extend_from_slice(&f16_bytes(-0.05 * ((r + b) % 5) as f32));
                raw.extend((0..16).map(|j| ((r * 7 + j * 5 + b) % 256) as u8));
            }
        }
        let w = QMat::from_gguf(Kind::Q4_1, Cow::Borrowed(&raw), rows, cols).expect("q4_1");
        let xs = quantized(cols, 3, false, |i, t| ((i * (t + 2)) as f32 * 0.21).cos());
        let want = row_by_row(&w, &xs);
        std::thread::spawn(pool::helper_loop);
        while pool::helpers() == 0 {
            std::thread::yield_now();
        }
        for _ in 0..20 {
            let mut one = vec![0.0f32; rows];
            matvec(&w, &xs[0], &mut one);
            assert_eq!(one, want[0]);
            let mut outs = vec![vec![0.0f32; rows]; xs.len()];
            matmul(&w, &xs, &mut outs);
            assert_eq!(outs, want);
        }
    }

    #[test]
    fn truncated_data_is_an_error() {
        assert!(QMat::from_gguf(Kind::Q4_1, Cow::Borrowed(&[0u8; 10]), 1, 32).is_err());
        assert!(QMat::from_gguf(Kind::Q8_0, Cow::Borrowed(&[0u8; 34]), 1, 33).is_err());
    }
}

//! The integer part of the k-quant dot products in wasm simd128 (and relaxed-simd where the build
//! enables it): the same sums as the scalar blocks of [`crate::quants`], bit for bit, since
//! integer addition is exact in any order and no sum here can overflow an i32 (see `dot16`).
//! The float part stays in `quants::row_dot_k`, shared by every build.
//!
//! A block's values are unpacked from the bytes as the file stores them (nothing is widened at
//! load, so the weights keep the file's size in memory), once per block and prompt batch: every
//! token of the batch then reuses the same 16 vectors.
use core::arch::wasm32::*;

use crate::quants::{Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES, QK_K};

#[inline(always)]
fn hsum(v: v128) -> i32 {
    i32x4_extract_lane::<0>(v)
        .wrapping_add(i32x4_extract_lane::<1>(v))
        .wrapping_add(i32x4_extract_lane::<2>(v))
        .wrapping_add(i32x4_extract_lane::<3>(v))
}

#[inline(always)]
fn load(b: &[u8; 16]) -> v128 {
    // SAFETY: `b` is 16 readable bytes; v128_load has no alignment requirement.
    unsafe { v128_load(b.as_ptr() as *const v128) }
}

/// Bytes `at..at + 16` of an array, as a vector.
#[inline(always)]
fn at<const N: usize>(a: &[u8; N], at: usize) -> v128 {
    match a.get(at..at + 16).map(<&[u8; 16]>::try_from) {
        Some(Ok(b)) => load(b),
        _ => u8x16_splat(0),
    }
}

/// The 256 values of one super-block, unpacked once into 16 vectors in value order (vector `i`
/// holds values 16i..16i+16), so a prompt batch reuses them for every token.
pub(crate) type Unpacked = [v128; 16];

/// The high nibble of every byte. A 16-bit shift then a mask: wasm has no 8-bit shift in x86
/// hardware, so `u8x16_shr` costs a shift plus a mask built on the spot.
#[inline(always)]
pub(crate) fn nib_hi(v: v128) -> v128 {
    v128_and(u16x8_shr(v, 4), u8x16_splat(0x0F))
}

/// Bits `s`.. of every byte moved to bits 4.. and kept where `keep` (0x10: one bit, 0x30: two)
/// says: one 16-bit shift (the bits that cross into the neighbour byte are masked off) and a mask.
#[inline(always)]
fn bits_to_4(v: v128, s: u32, keep: u8) -> v128 {
    let moved = if s >= 4 { u16x8_shr(v, s - 4) } else { u16x8_shl(v, 4 - s) };
    v128_and(moved, u8x16_splat(keep))
}

/// A Q4_K / Q5_K block's nibbles and (Q5_K) fifth bits; `None` when the slice is not one block.
#[inline(always)]
fn q45_parts(five_bits: bool, block: &[u8]) -> Option<(&[u8; 128], Option<&[u8; 32]>)> {
    if five_bits {
        let b: &[u8; Q5_K_BYTES] = block.try_into().ok()?;
        Some((b[48..].try_into().ok()?, Some(b[16..48].try_into().ok()?)))
    } else {
        let b: &[u8; Q4_K_BYTES] = block.try_into().ok()?;
        Some((b[16..].try_into().ok()?, None))
    }
}

/// Values 64j .. 64j + 64 of a Q4_K / Q5_K block as four vectors (`h` = the 32 fifth-bit bytes
/// as two vectors, Q5_K only).
#[inline(always)]
fn q45_quarter(qs: &[u8; 128], h: Option<(v128, v128)>, j: usize) -> [v128; 4] {
    let mask = u8x16_splat(0x0F);
    let (q0, q1) = (at(qs, 32 * j), at(qs, 32 * j + 16));
    let (mut lo0, mut lo1) = (v128_and(q0, mask), v128_and(q1, mask));
    let (mut hi0, mut hi1) = (nib_hi(q0), nib_hi(q1));
    if let Some((h0, h1)) = h {
        // Bit 2j of qh[l] is the fifth bit of value 64j + l, bit 2j + 1 that of 64j + 32 + l.
        let s = 2 * j as u32;
        lo0 = v128_or(lo0, bits_to_4(h0, s, 0x10));
        lo1 = v128_or(lo1, bits_to_4(h1, s, 0x10));
        hi0 = v128_or(hi0, bits_to_4(h0, s + 1, 0x10));
        hi1 = v128_or(hi1, bits_to_4(h1, s + 1, 0x10));
    }
    [lo0, lo1, hi0, hi1]
}

/// The 256 unsigned values of a Q4_K block (0..=15) or a Q5_K block (0..=31). `None` when the
/// slice is not one block.
#[inline(always)]
pub(crate) fn q45_k_unpack(five_bits: bool, block: &[u8]) -> Option<Unpacked> {
    let (qs, qh) = q45_parts(five_bits, block)?;
    let h = qh.map(|h| (at(h, 0), at(h, 16)));
    let mut out = [u8x16_splat(0); 16];
    for j in 0..4 {
        let [lo0, lo1, hi0, hi1] = q45_quarter(qs, h, j);
        out[4 * j] = lo0;
        out[4 * j + 1] = lo1;
        out[4 * j + 2] = hi0;
        out[4 * j + 3] = hi1;
    }
    Some(out)
}

/// A Q6_K block's low nibbles and high bit pairs; `None` when the slice is not one block.
#[inline(always)]
fn q6_parts(block: &[u8]) -> Option<(&[u8; 128], &[u8; 64])> {
    let b: &[u8; Q6_K_BYTES] = block.try_into().ok()?;
    Some((b[..128].try_into().ok()?, b[128..192].try_into().ok()?))
}

/// Values 128n + 32k + 16·half .. +16 for k = 0..4 (sub-blocks 8n + 2k + half) of a Q6_K block,
/// as stored (0..=63).
#[inline(always)]
fn q6_quarter(ql: &[u8; 128], qh: &[u8; 64], n: usize, half: usize) -> [v128; 4] {
    let mask = u8x16_splat(0x0F);
    let a = at(ql, 64 * n + 16 * half);
    let c = at(ql, 64 * n + 32 + 16 * half);
    let h = at(qh, 32 * n + 16 * half);
    let hbits = |s: u32| bits_to_4(h, s, 0x30);
    [
        v128_or(v128_and(a, mask), hbits(0)),
        v128_or(v128_and(c, mask), hbits(2)),
        v128_or(nib_hi(a), hbits(4)),
        v128_or(nib_hi(c), hbits(6)),
    ]
}

/// The 256 values of a Q6_K block as stored, unsigned 0..=63 (the signed value is u − 32; the
/// offset is taken off with the activations' 16-value sums).
#[inline(always)]
pub(crate) fn q6_k_unpack(block: &[u8]) -> Option<Unpacked> {
    let (ql, qh) = q6_parts(block)?;
    let mut out = [u8x16_splat(0); 16];
    for n in 0..2 {
        for half in 0..2 {
            for (k, v) in q6_quarter(ql, qh, n, half).into_iter().enumerate() {
                out[8 * n + 2 * k + half] = v;
            }
        }
    }
    Some(out)
}

/// acc + scale·Σ u·y over 16 values (`scale` an i16 splat), in i32 lanes. The products are
/// summed in pairs in i16 lanes first (as ggml's AVX2 `maddubs`), then multiplied by the scale
/// and summed in pairs again into i32 (`madd`): each pair sum is at most 2 · 63 · 127 = 16,002
/// in magnitude, so nothing saturates.
#[inline(always)]
fn dot16_scaled(u: v128, y: v128, scale: v128, acc: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    {
        // The second operand is read as 7-bit: `u` ≤ 63 keeps every lane's result defined.
        i32x4_add(acc, i32x4_dot_i16x8(i16x8_relaxed_dot_i8x16_i7x16(y, u), scale))
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        let lo = i32x4_dot_i16x8(i16x8_extmul_low_i8x16(u, y), scale);
        let hi = i32x4_dot_i16x8(i16x8_extmul_high_i8x16(u, y), scale);
        i32x4_add(acc, i32x4_add(lo, hi))
    }
}

/// acc + scale·Σ u·y over 32 values (two vectors of each): in relaxed-simd the two i16 pair
/// sums are added before the scale (four products, at most 32,004 in magnitude: no overflow).
#[inline(always)]
fn dot32_scaled(u0: v128, u1: v128, y0: v128, y1: v128, scale: v128, acc: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    {
        let p = i16x8_add(i16x8_relaxed_dot_i8x16_i7x16(y0, u0), i16x8_relaxed_dot_i8x16_i7x16(y1, u1));
        i32x4_add(acc, i32x4_dot_i16x8(p, scale))
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        dot16_scaled(u1, y1, scale, dot16_scaled(u0, y0, scale, acc))
    }
}

/// Lane `S` of eight i16 lanes (of `lo` for S < 8, else lane S − 8 of `hi`) in every lane.
#[inline(always)]
fn bcast<const S: usize>(lo: v128, hi: v128) -> v128 {
    i16x8_shuffle::<S, S, S, S, S, S, S, S>(lo, hi)
}

/// Eight unsigned bytes widened to eight i16 lanes.
#[inline(always)]
fn widen8(b: [u8; 8]) -> v128 {
    i16x8_extend_low_u8x16(u64x2_replace_lane::<0>(u64x2_splat(0), u64::from_le_bytes(b)))
}

/// Sixteen i8 widened to two vectors of eight i16 lanes.
#[inline(always)]
fn widen16(b: &[i8; 16]) -> (v128, v128) {
    // SAFETY: 16 readable bytes; v128_load has no alignment requirement.
    let v = unsafe { v128_load(b.as_ptr() as *const v128) };
    (i16x8_extend_low_i8x16(v), i16x8_extend_high_i8x16(v))
}

/// Σ_sub scale·Σ u·y over 8 sub-blocks of 32 values (Q4_K, Q5_K: the caller adds the mins).
/// Unrolled, so each sub-block's scale is a constant lane shuffle of one vector.
#[inline(always)]
pub(crate) fn sumi_32(u: &Unpacked, y: &[i8; QK_K], scales: &[u8; 8]) -> i32 {
    let y = bytes_of(y);
    let sc = widen8(*scales);
    let mut sumi = i32x4_splat(0);
    macro_rules! sub {
        ($($s:literal)*) => {$(
            sumi = dot32_scaled(u[2 * $s], u[2 * $s + 1], at(y, 32 * $s), at(y, 32 * $s + 16), bcast::<$s>(sc, sc), sumi);
        )*};
    }
    sub!(0 1 2 3 4 5 6 7);
    hsum(sumi)
}

/// Σ_sub scale·Σ u·y over 16 sub-blocks of 16 values (Q6_K, values as stored: the caller takes
/// off 32·scale·Σy).
#[inline(always)]
pub(crate) fn sumi_16(u: &Unpacked, y: &[i8; QK_K], scales: &[i8; 16]) -> i32 {
    let y = bytes_of(y);
    let (lo, hi) = widen16(scales);
    let mut sumi = i32x4_splat(0);
    macro_rules! sub {
        ($($s:literal)*) => {$(
            sumi = dot16_scaled(u[$s], at(y, 16 * $s), bcast::<$s>(lo, hi), sumi);
        )*};
    }
    sub!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    hsum(sumi)
}

/// Σ_sub scale·Σ q·y of one Q4_K / Q5_K block against one token, unpacked and multiplied in one
/// pass (generation: a block is used by one token only, so it is not kept), as four i32 lanes
/// left unsummed (the caller sums four blocks' lanes at once): they add up to the integer of
/// [`q45_k_unpack`] then [`sumi_32`].
#[inline(always)]
pub(crate) fn q45_k_dot(five_bits: bool, block: &[u8], y: &[i8; QK_K], scales: &[u8; 8]) -> Option<v128> {
    let (qs, qh) = q45_parts(five_bits, block)?;
    let h = qh.map(|h| (at(h, 0), at(h, 16)));
    let y = bytes_of(y);
    let sc = widen8(*scales);
    let mut sumi = i32x4_splat(0);
    macro_rules! quarter {
        ($($j:literal $lo:literal $hi:literal),*) => {$(
            let [lo0, lo1, hi0, hi1] = q45_quarter(qs, h, $j);
            sumi = dot32_scaled(lo0, lo1, at(y, 64 * $j), at(y, 64 * $j + 16), bcast::<$lo>(sc, sc), sumi);
            sumi = dot32_scaled(hi0, hi1, at(y, 64 * $j + 32), at(y, 64 * $j + 48), bcast::<$hi>(sc, sc), sumi);
        )*};
    }
    quarter!(0 0 1, 1 2 3, 2 4 5, 3 6 7);
    Some(sumi)
}

/// Σ_sub scale·Σ u·y of one Q6_K block (values as stored, 0..=63) against one token, in one
/// pass, as four i32 lanes left unsummed: they add up to the integer of [`q6_k_unpack`] then
/// [`sumi_16`].
#[inline(always)]
pub(crate) fn q6_k_dot(block: &[u8], y: &[i8; QK_K], scales: &[i8; 16]) -> Option<v128> {
    let (ql, qh) = q6_parts(block)?;
    let y = bytes_of(y);
    let (slo, shi) = widen16(scales);
    let mut sumi = i32x4_splat(0);
    macro_rules! quarter {
        ($($n:literal $half:literal $s0:literal $s1:literal $s2:literal $s3:literal),*) => {$(
            let [u0, u1, u2, u3] = q6_quarter(ql, qh, $n, $half);
            sumi = dot16_scaled(u0, at(y, 16 * $s0), bcast::<$s0>(slo, shi), sumi);
            sumi = dot16_scaled(u1, at(y, 16 * $s1), bcast::<$s1>(slo, shi), sumi);
            sumi = dot16_scaled(u2, at(y, 16 * $s2), bcast::<$s2>(slo, shi), sumi);
            sumi = dot16_scaled(u3, at(y, 16 * $s3), bcast::<$s3>(slo, shi), sumi);
        )*};
    }
    quarter!(0 0 0 2 4 6, 0 1 1 3 5 7, 1 0 8 10 12 14, 1 1 9 11 13 15);
    Some(sumi)
}

/// Σ mins[i]·sums[i] over 8 (Q4_K / Q5_K mins against the activations' 32-value sums): at most
/// 2 · 63 · 4,064 per i32 lane.
#[inline(always)]
pub(crate) fn scaled_sums_8(mins: &[u8; 8], sums: &[i16; 8]) -> i32 {
    hsum(scaled_sums_8_v(mins, sums))
}

/// [`scaled_sums_8`] before its horizontal sum.
#[inline(always)]
pub(crate) fn scaled_sums_8_v(mins: &[u8; 8], sums: &[i16; 8]) -> v128 {
    let m = widen8(*mins);
    // SAFETY: `sums` is 16 readable bytes; v128_load has no alignment requirement.
    let s = unsafe { v128_load(sums.as_ptr() as *const v128) };
    i32x4_dot_i16x8(m, s)
}

/// Σ scales[i]·sums[i] over 16 (Q6_K scales against the activations' 16-value sums).
#[inline(always)]
pub(crate) fn scaled_sums_16(scales: &[i8; 16], sums: &[i16; 16]) -> i32 {
    hsum(scaled_sums_16_v(scales, sums))
}

/// [`scaled_sums_16`] before its horizontal sum.
#[inline(always)]
pub(crate) fn scaled_sums_16_v(scales: &[i8; 16], sums: &[i16; 16]) -> v128 {
    let (sc_lo, sc_hi) = widen16(scales);
    // SAFETY: 32 readable bytes; v128_load has no alignment requirement.
    let (s0, s1) = unsafe {
        (
            v128_load(sums.as_ptr() as *const v128),
            v128_load(sums.as_ptr().add(8) as *const v128),
        )
    };
    let lo = i32x4_dot_i16x8(sc_lo, s0);
    let hi = i32x4_dot_i16x8(sc_hi, s1);
    i32x4_add(lo, hi)
}

/// Four tokens of a prompt batch side by side: each weight vector and each sub-block's scale is
/// loaded once for the four, and the four sums come out as the lanes of one vector.
pub(crate) type Four<'a, T> = [&'a T; 4];

/// The sub-block scales of a block as i16 splats, made once per block and prompt batch:
/// Q4_K / Q5_K's eight (the rest zero) or Q6_K's sixteen.
pub(crate) type Splats = [v128; 16];

/// The eight Q4_K / Q5_K scales as splats.
#[inline(always)]
pub(crate) fn splats_8(scales: &[u8; 8]) -> Splats {
    let sc = widen8(*scales);
    let mut out = [i16x8_splat(0); 16];
    macro_rules! s { ($($s:literal)*) => {$( out[$s] = bcast::<$s>(sc, sc); )*}; }
    s!(0 1 2 3 4 5 6 7);
    out
}

/// The sixteen Q6_K scales as splats.
#[inline(always)]
pub(crate) fn splats_16(scales: &[i8; 16]) -> Splats {
    let (lo, hi) = widen16(scales);
    let mut out = [i16x8_splat(0); 16];
    macro_rules! s { ($($s:literal)*) => {$( out[$s] = bcast::<$s>(lo, hi); )*}; }
    s!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    out
}

/// [hsum(a), hsum(b), hsum(c), hsum(d)] (the integers `hsum` gives: addition is exact in any
/// order).
#[inline(always)]
pub(crate) fn hsum4(a: v128, b: v128, c: v128, d: v128) -> v128 {
    let ab = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(a, b), i32x4_shuffle::<2, 6, 3, 7>(a, b));
    let cd = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(c, d), i32x4_shuffle::<2, 6, 3, 7>(c, d));
    // ab = [a0+a2, b0+b2, a1+a3, b1+b3], cd likewise.
    i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(ab, cd), i32x4_shuffle::<2, 3, 6, 7>(ab, cd))
}

/// [`sumi_32`] of four tokens against one unpacked block, as four lanes: four accumulators,
/// each weight vector and scale loaded once for the four. A loop whose trip count the compiler
/// cannot see (`black_box`), so it stays a loop: unrolled (by hand or by LLVM), the loads are
/// hoisted to the top and V8 spills most of them to the stack (seen with Node's
/// `--print-wasm-code`; bench/kernels measures 1.4× on Q4_K rows for the loop).
#[inline(always)]
pub(crate) fn sumi_32_x4(u: &Unpacked, ys: Four<[i8; QK_K]>, sc: &Splats) -> v128 {
    let [y0, y1, y2, y3] = ys.map(bytes_of);
    let (mut a0, mut a1, mut a2, mut a3) = (i32x4_splat(0), i32x4_splat(0), i32x4_splat(0), i32x4_splat(0));
    let subs = core::hint::black_box(8usize).min(8);
    for s in 0..subs {
        let (u0, u1, scale) = (u[2 * s], u[2 * s + 1], sc[s]);
        let o = 32 * s;
        a0 = dot32_scaled(u0, u1, at(y0, o), at(y0, o + 16), scale, a0);
        a1 = dot32_scaled(u0, u1, at(y1, o), at(y1, o + 16), scale, a1);
        a2 = dot32_scaled(u0, u1, at(y2, o), at(y2, o + 16), scale, a2);
        a3 = dot32_scaled(u0, u1, at(y3, o), at(y3, o + 16), scale, a3);
    }
    hsum4(a0, a1, a2, a3)
}

/// [`sumi_16`] of four tokens against one unpacked block, as four lanes (a loop, as
/// [`sumi_32_x4`]).
#[inline(always)]
pub(crate) fn sumi_16_x4(u: &Unpacked, ys: Four<[i8; QK_K]>, sc: &Splats) -> v128 {
    let [y0, y1, y2, y3] = ys.map(bytes_of);
    let (mut a0, mut a1, mut a2, mut a3) = (i32x4_splat(0), i32x4_splat(0), i32x4_splat(0), i32x4_splat(0));
    let subs = core::hint::black_box(16usize).min(16);
    for s in 0..subs {
        let (u0, scale) = (u[s], sc[s]);
        let o = 16 * s;
        a0 = dot16_scaled(u0, at(y0, o), scale, a0);
        a1 = dot16_scaled(u0, at(y1, o), scale, a1);
        a2 = dot16_scaled(u0, at(y2, o), scale, a2);
        a3 = dot16_scaled(u0, at(y3, o), scale, a3);
    }
    hsum4(a0, a1, a2, a3)
}

/// [`scaled_sums_8`] of four tokens' 32-value sums, as four lanes.
#[inline(always)]
pub(crate) fn scaled_sums_8_x4(mins: &[u8; 8], sums: Four<[i16; 8]>) -> v128 {
    let d = sums.map(|s| scaled_sums_8_v(mins, s));
    hsum4(d[0], d[1], d[2], d[3])
}

/// [`scaled_sums_16`] of four tokens' 16-value sums, as four lanes.
#[inline(always)]
pub(crate) fn scaled_sums_16_x4(scales: &[i8; 16], sums: Four<[i16; 16]>) -> v128 {
    let d = sums.map(|s| scaled_sums_16_v(scales, s));
    hsum4(d[0], d[1], d[2], d[3])
}

/// The activations' bytes as u8 (same bits; `at` loads them as i8 lanes).
#[inline(always)]
fn bytes_of(y: &[i8; QK_K]) -> &[u8; QK_K] {
    // SAFETY: i8 and u8 have the same size, alignment and validity.
    unsafe { &*(y as *const [i8; QK_K] as *const [u8; QK_K]) }
}

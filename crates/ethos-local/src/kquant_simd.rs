//! The integer part of the k-quant dot products in wasm simd128 (and relaxed-simd where the build
//! enables it): the same sums as the scalar blocks of [`crate::quants`], bit for bit, since
//! integer addition is exact in any order and no sum here can overflow an i32 (see `dot16`).
//! The float part stays in `quants::row_dot_k`, shared by every build.
//!
//! Values are unpacked 16 at a time straight from the block as the file stores it: nothing is
//! widened at load, so the weights keep the file's size in memory.
use core::arch::wasm32::*;

use crate::quants::{Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES, QK_K};

/// Σ u·y of 16 unsigned weights (each 0..=63) and 16 activations (-128..=127), as four i32
/// partial sums added to `acc`. Each i16 pair sum is at most 2 · 63 · 128 = 16,128: no
/// saturation in relaxed-simd's dot, none in the widening multiply either.
#[inline(always)]
fn dot16(u: v128, y: v128, acc: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    {
        // The second operand is read as 7-bit: `u` ≤ 63 keeps every lane's result defined.
        i32x4_relaxed_dot_i8x16_i7x16_add(y, u, acc)
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        i32x4_add(
            acc,
            i32x4_add(
                i32x4_extadd_pairwise_i16x8(i16x8_extmul_low_i8x16(u, y)),
                i32x4_extadd_pairwise_i16x8(i16x8_extmul_high_i8x16(u, y)),
            ),
        )
    }
}

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

/// Σ_sub scale·Σ q·y of one Q4_K (no `qh`) or Q5_K block; the caller adds the mins from the
/// activations' 16-value sums. `None` when a slice is shorter than a block.
#[inline]
pub(crate) fn q45_k_sumi(five_bits: bool, block: &[u8], y: &[i8], scales: &[(u8, u8); 8]) -> Option<i32> {
    let y: &[u8; QK_K] = bytemuck_i8(y.get(..QK_K)?)?;
    let (qs, qh): (&[u8; 128], Option<&[u8; 32]>) = if five_bits {
        let b: &[u8; Q5_K_BYTES] = block.try_into().ok()?;
        (b[48..].try_into().ok()?, Some(b[16..48].try_into().ok()?))
    } else {
        let b: &[u8; Q4_K_BYTES] = block.try_into().ok()?;
        (b[16..].try_into().ok()?, None)
    };
    let mask = u8x16_splat(0x0F);
    let (h0, h1) = match qh {
        Some(h) => (at(h, 0), at(h, 16)),
        None => (u8x16_splat(0), u8x16_splat(0)),
    };
    let mut sumi = i32x4_splat(0);
    for j in 0..4 {
        let (q0, q1) = (at(qs, 32 * j), at(qs, 32 * j + 16));
        let (mut lo0, mut lo1) = (v128_and(q0, mask), v128_and(q1, mask));
        let (mut hi0, mut hi1) = (u8x16_shr(q0, 4), u8x16_shr(q1, 4));
        if qh.is_some() {
            // Bit 2j of qh[l] is the fifth bit of value 64j + l, bit 2j + 1 that of 64j + 32 + l.
            let bit = |h: v128, s: u32| v128_and(u8x16_shl(u8x16_shr(h, s), 4), u8x16_splat(0x10));
            let s = 2 * j as u32;
            lo0 = v128_or(lo0, bit(h0, s));
            lo1 = v128_or(lo1, bit(h1, s));
            hi0 = v128_or(hi0, bit(h0, s + 1));
            hi1 = v128_or(hi1, bit(h1, s + 1));
        }
        let base = 64 * j;
        let lo = dot16(lo1, at(y, base + 16), dot16(lo0, at(y, base), i32x4_splat(0)));
        let hi = dot16(hi1, at(y, base + 48), dot16(hi0, at(y, base + 32), i32x4_splat(0)));
        let (sc_lo, sc_hi) = (scales[2 * j].0, scales[2 * j + 1].0);
        sumi = i32x4_add(sumi, i32x4_mul(lo, i32x4_splat(i32::from(sc_lo))));
        sumi = i32x4_add(sumi, i32x4_mul(hi, i32x4_splat(i32::from(sc_hi))));
    }
    Some(hsum(sumi))
}

/// Σ_sub scale·Σ q·y of one Q6_K block (values -32..=31, stored as 0..=63): the offset is taken
/// off with the activations' 16-value sums, Σ (u − 32)·y = Σ u·y − 32·Σ y.
#[inline]
pub(crate) fn q6_k_sumi(block: &[u8], y: &[i8], bsums: &[i32]) -> Option<i32> {
    let y: &[u8; QK_K] = bytemuck_i8(y.get(..QK_K)?)?;
    let b: &[u8; Q6_K_BYTES] = block.try_into().ok()?;
    let bsums: &[i32; 16] = bsums.get(..16)?.try_into().ok()?;
    let (ql, qh): (&[u8; 128], &[u8; 64]) = (b[..128].try_into().ok()?, b[128..192].try_into().ok()?);
    let mask = u8x16_splat(0x0F);
    let three = u8x16_splat(0x03);
    let mut sumi = i32x4_splat(0);
    let mut offset = 0i32;
    for n in 0..2 {
        for half in 0..2 {
            let a = at(ql, 64 * n + 16 * half);
            let c = at(ql, 64 * n + 32 + 16 * half);
            let h = at(qh, 32 * n + 16 * half);
            let hbits = |s: u32| u8x16_shl(v128_and(u8x16_shr(h, s), three), 4);
            let vals = [
                v128_or(v128_and(a, mask), hbits(0)),
                v128_or(v128_and(c, mask), hbits(2)),
                v128_or(u8x16_shr(a, 4), hbits(4)),
                v128_or(u8x16_shr(c, 4), hbits(6)),
            ];
            for (k, u) in vals.into_iter().enumerate() {
                // Values 128n + 32k + 16·half ..+16: sub-block 8n + 2k + half.
                let sub = 8 * n + 2 * k + half;
                let sc = i32::from(b[192 + sub] as i8);
                let p = dot16(u, at(y, 16 * sub), i32x4_splat(0));
                sumi = i32x4_add(sumi, i32x4_mul(p, i32x4_splat(sc)));
                offset += sc * 32 * bsums[sub];
            }
        }
    }
    Some(hsum(sumi) - offset)
}

/// The activations' bytes as u8 (same bits; `at` loads them as i8 lanes).
#[inline(always)]
fn bytemuck_i8(y: &[i8]) -> Option<&[u8; QK_K]> {
    // SAFETY: i8 and u8 have the same size, alignment and validity.
    let bytes = unsafe { core::slice::from_raw_parts(y.as_ptr() as *const u8, y.len()) };
    bytes.try_into().ok()
}

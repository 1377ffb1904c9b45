//! The wasm SIMD k-quant kernels (`src/kquant_simd.rs`) give the same bits as the portable scalar
//! code on Q4_K, Q5_K and Q6_K rows: random blocks, random and extreme activations, extreme
//! weights and scales. Built twice by scripts/test.sh: with relaxed-simd (run in headless
//! Chromium) and with plain simd128 (run in Node):
//!
//!     RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" CARGO_TARGET_DIR=target/kernels-wasm \
//!       CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!       cargo test --target wasm32-unknown-unknown -p ethos-local --no-default-features \
//!       --features kernels --test kquant_simd_wasm
#![cfg(all(target_arch = "wasm32", target_feature = "simd128"))]

use ethos_local::quants::{
    row_dot_k, row_dot_k_batch, row_dot_k_batch_scalar, row_dot_k_scalar, rows_dot_k, KQuant, Q8K,
    QK_K,
};
use wasm_bindgen_test::wasm_bindgen_test;

// relaxed-simd needs a browser (Node 20's V8 has it behind a flag).
#[cfg(target_feature = "relaxed-simd")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

fn f16(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_bits().to_le_bytes()
}

/// A row of `blocks` blocks: random bytes with finite f16 scales where the format keeps them.
fn row(kind: KQuant, blocks: usize, rng: &mut Rng, fill: Option<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..blocks {
        let mut b: Vec<u8> = (0..kind.block_bytes())
            .map(|_| fill.unwrap_or_else(|| rng.byte()))
            .collect();
        let d = f16(0.001 + rng.unit().abs() * 0.05);
        let m = f16(0.001 + rng.unit().abs() * 0.02);
        match kind {
            KQuant::Q4K | KQuant::Q5K => {
                b[0..2].copy_from_slice(&d);
                b[2..4].copy_from_slice(&m);
            }
            KQuant::Q6K => b[208..210].copy_from_slice(&d),
        }
        out.extend(b);
    }
    out
}

fn activations(n: usize, rng: &mut Rng, extreme: Option<f32>) -> Q8K {
    let x: Vec<f32> = (0..n)
        .map(|i| match extreme {
            // Alternating full-scale values: every quantised activation is ±127.
            Some(v) => {
                if i % 3 == 0 {
                    -v
                } else {
                    v
                }
            }
            None => rng.unit() * 4.0,
        })
        .collect();
    let mut q = Q8K::new(n);
    q.quantize(&x);
    q
}

fn same_bits(kind: KQuant, w: &[u8], x: &Q8K, what: &str) {
    let simd = row_dot_k(kind, w, x);
    let scalar = row_dot_k_scalar(kind, w, x);
    assert!(simd.is_finite(), "{kind:?} {what}: {simd}");
    assert_eq!(
        simd.to_bits(),
        scalar.to_bits(),
        "{kind:?} {what}: SIMD {simd} vs scalar {scalar}"
    );
    // The same row through generation's chunk entry.
    let mut one = [f32::NAN];
    rows_dot_k(kind, w, w.len(), x, &mut one);
    assert_eq!(one[0].to_bits(), scalar.to_bits(), "{kind:?} {what}: rows_dot_k");
}

#[wasm_bindgen_test]
fn random_rows_give_the_scalar_bits() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for kind in [KQuant::Q4K, KQuant::Q5K, KQuant::Q6K] {
        for blocks in [1, 3, 4, 7] {
            for trial in 0..40 {
                let w = row(kind, blocks, &mut rng, None);
                let x = activations(blocks * QK_K, &mut rng, None);
                same_bits(kind, &w, &x, &format!("{blocks} blocks, trial {trial}"));
            }
        }
    }
}

#[wasm_bindgen_test]
fn extreme_weights_and_activations_give_the_scalar_bits() {
    let mut rng = Rng(7);
    // 0xFF everywhere: every value at its largest, every 6-bit scale and min at 63, Q6_K scales
    // at -1; 0x80: Q6_K scales at -128; 0x00: the smallest values.
    for fill in [0xFF, 0x80, 0x7F, 0x00] {
        for sign in [127.0f32, -127.0] {
            for kind in [KQuant::Q4K, KQuant::Q5K, KQuant::Q6K] {
                let w = row(kind, 4, &mut rng, Some(fill));
                let x = activations(4 * QK_K, &mut rng, Some(sign));
                same_bits(kind, &w, &x, &format!("fill {fill:#x}, activations ±{sign}"));
            }
        }
    }
}

#[wasm_bindgen_test]
fn short_rows_and_activations_are_not_a_panic() {
    let x = Q8K::new(QK_K);
    for kind in [KQuant::Q4K, KQuant::Q5K, KQuant::Q6K] {
        assert_eq!(row_dot_k(kind, &[1, 2, 3], &x), 0.0);
        let mut rng = Rng(3);
        let w = row(kind, 2, &mut rng, None);
        // Activations for one block only: the second block reads none and adds nothing.
        assert_eq!(
            row_dot_k(kind, &w, &x).to_bits(),
            row_dot_k_scalar(kind, &w, &x).to_bits()
        );
    }
}

/// A prompt batch (each block unpacked once for all its tokens, the tokens four at a time) gives
/// every token the bits of the scalar code and of the token alone: 40 tokens (more than one
/// pass of 32) with one token's activations a single block long (its pass takes the general
/// path), and 37 whole tokens (every pass four at a time, the last four holding one token),
/// each with a token of extreme activations.
#[wasm_bindgen_test]
fn batches_give_the_scalar_bits_per_token() {
    let mut rng = Rng(0xB47C);
    for (kind, n, short) in [
        (KQuant::Q4K, 40, true),
        (KQuant::Q5K, 40, true),
        (KQuant::Q6K, 40, true),
        (KQuant::Q4K, 37, false),
        (KQuant::Q5K, 37, false),
        (KQuant::Q6K, 37, false),
    ] {
        let w = row(kind, 3, &mut rng, None);
        let mut xs: Vec<Q8K> = (0..n).map(|_| activations(3 * QK_K, &mut rng, None)).collect();
        if short {
            xs[7] = Q8K::new(QK_K);
        }
        xs[9] = activations(3 * QK_K, &mut rng, Some(127.0));
        xs[34] = activations(3 * QK_K, &mut rng, Some(127.0));
        let refs: Vec<&Q8K> = xs.iter().collect();
        let (mut simd, mut scalar) = (vec![f32::NAN; n], vec![f32::NAN; n]);
        row_dot_k_batch(kind, &w, &refs, &mut simd);
        row_dot_k_batch_scalar(kind, &w, &refs, &mut scalar);
        for (t, x) in xs.iter().enumerate() {
            let alone = row_dot_k_scalar(kind, &w, x);
            assert_eq!(simd[t].to_bits(), alone.to_bits(), "{kind:?} token {t}: SIMD batch");
            assert_eq!(scalar[t].to_bits(), alone.to_bits(), "{kind:?} token {t}: scalar batch");
        }
    }
}

/// Generation's chunk entry (`rows_dot_k`: consecutive rows, one token) gives every row the
/// scalar bits; rows past the bytes are left alone; short activations take the general path.
#[wasm_bindgen_test]
fn chunks_of_rows_give_the_scalar_bits_per_row() {
    let mut rng = Rng(0xC0FFEE);
    for kind in [KQuant::Q4K, KQuant::Q5K, KQuant::Q6K] {
        let rows: Vec<Vec<u8>> = (0..5).map(|_| row(kind, 3, &mut rng, None)).collect();
        let len = rows[0].len();
        let bytes: Vec<u8> = rows.concat();
        for x in [
            activations(3 * QK_K, &mut rng, None),
            activations(3 * QK_K, &mut rng, Some(-127.0)),
            Q8K::new(QK_K),
        ] {
            // Seven outputs for five rows: the last two stay as they were.
            let mut out = [f32::NAN; 7];
            rows_dot_k(kind, &bytes, len, &x, &mut out);
            for (r, w) in rows.iter().enumerate() {
                let alone = row_dot_k_scalar(kind, w, &x);
                assert_eq!(out[r].to_bits(), alone.to_bits(), "{kind:?} row {r}");
            }
            assert!(out[5].is_nan() && out[6].is_nan(), "{kind:?}: rows past the bytes");
        }
        let mut out = [1.0f32; 2];
        rows_dot_k(kind, &bytes, 0, &activations(3 * QK_K, &mut rng, None), &mut out);
        assert_eq!(out, [1.0, 1.0], "{kind:?}: a row length of 0 leaves everything alone");
    }
}

//! Distance kernels over `f32` slices: squared L2, dot product and L1, with a runtime-chosen
//! AVX2+FMA path on x86_64 and a portable one elsewhere.
//!
//! Both paths run the same loop: 32 independent accumulators over chunks of 32, which the
//! compiler turns into packed SIMD (eight SSE2 registers in the portable build; four 256-bit
//! AVX2 registers, with fused multiply-adds, where `avx2_fma` is compiled with those features
//! enabled). Four registers, not one: with a single accumulator every add waits for the one
//! before it, and a 128-dimension distance was a 16-add dependency chain. The AVX2 copy is chosen once per process by
//! `is_x86_feature_detected!`. Tests check both against a plain `f64` loop. AVX-512 is not used: its target features need a newer
//! compiler than the workspace's minimum (1.85).
//!
//! Slices of different lengths are compared over the shorter one; callers check dimensions.

use std::sync::OnceLock;

/// Squared Euclidean distance.
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    (kernels().l2)(a, b)
}

/// Dot product.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    (kernels().dot)(a, b)
}

/// Sum of absolute differences.
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    (kernels().l1)(a, b)
}

/// Asks the CPU to start loading `v` into cache (its first 512 bytes): a search prefetches
/// every unvisited neighbour of a node before scoring them, so their loads overlap instead of
/// each distance waiting for its own cache miss. A no-op off x86_64.
#[inline(always)]
pub fn prefetch<T>(v: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(v);
        let p = v.as_ptr().cast::<i8>();
        for off in (0..bytes).step_by(64).take(8) {
            // SAFETY: `off` is inside the slice, so `p.add(off)` stays within one allocation;
            // a prefetch is only a hint: it reads nothing architecturally and cannot fault.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Euclidean norm.
pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

type Kernel = fn(&[f32], &[f32]) -> f32;

struct Kernels {
    l2: Kernel,
    dot: Kernel,
    l1: Kernel,
}

/// Whether this CPU has AVX2 and FMA: what every `avx2_fma` kernel set needs (these and the
/// code kernels of `quant`).
pub(super) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn kernels() -> &'static Kernels {
    static CHOSEN: OnceLock<Kernels> = OnceLock::new();
    CHOSEN.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            return Kernels {
                l2: avx2_fma::l2,
                dot: avx2_fma::dot,
                l1: avx2_fma::l1,
            };
        }
        Kernels {
            l2: portable::l2,
            dot: portable::dot,
            l1: portable::l1,
        }
    })
}

/// Which kernel set this process uses ("avx2+fma" or "portable"), for logs and benchmarks.
pub fn kernel_name() -> &'static str {
    if has_avx2_fma() {
        "avx2+fma"
    } else {
        "portable"
    }
}

const LANES: usize = 32;

/// The shared loop: `LANES` independent accumulators and a scalar tail. `inline(always)` so
/// each caller gets its own copy, compiled with the target features of the function it lands
/// in (packed SSE2 in the portable kernels, 256-bit AVX2 in `avx2_fma`).
#[inline(always)]
fn fold(a: &[f32], b: &[f32], f: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            acc[i] = f(acc[i], x[i], y[i]);
        }
    }
    let mut tail = 0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail = f(tail, *x, *y);
    }
    acc.iter().fold(tail, |s, v| s + v)
}

#[inline(always)]
fn l2_body(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |acc, x, y| {
        let d = x - y;
        acc + d * d
    })
}

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |acc, x, y| acc + x * y)
}

#[inline(always)]
fn l1_body(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |acc, x, y| acc + (x - y).abs())
}

mod portable {
    pub fn l2(a: &[f32], b: &[f32]) -> f32 {
        super::l2_body(a, b)
    }

    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        super::dot_body(a, b)
    }

    pub fn l1(a: &[f32], b: &[f32]) -> f32 {
        super::l1_body(a, b)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2_fma {
    use super::{fold, l1_body};

    // SAFETY: callers must run on a CPU with avx2 and fma (the wrappers below check).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn l2_avx(a: &[f32], b: &[f32]) -> f32 {
        // `mul_add` is one vfmadd here (the portable kernels keep a multiply and an add: without
        // the fma feature it is a call to the C library).
        fold(a, b, |acc, x, y| {
            let d = x - y;
            d.mul_add(d, acc)
        })
    }

    // SAFETY: callers must run on a CPU with avx2 and fma (the wrappers below check).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx(a: &[f32], b: &[f32]) -> f32 {
        fold(a, b, |acc, x, y| x.mul_add(y, acc))
    }

    // SAFETY: callers must run on a CPU with avx2 and fma (the wrappers below check).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn l1_avx(a: &[f32], b: &[f32]) -> f32 {
        l1_body(a, b)
    }

    pub fn l2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: `kernels()` hands out these wrappers only after `is_x86_feature_detected!`
        // reported both avx2 and fma on this CPU; the bodies are safe slice code.
        unsafe { l2_avx(a, b) }
    }

    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as in `l2`: chosen only where avx2 and fma were detected.
        unsafe { dot_avx(a, b) }
    }

    pub fn l1(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as in `l2`: chosen only where avx2 and fma were detected.
        unsafe { l1_avx(a, b) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 250.0 - 2.0)
            .collect()
    }

    fn close(x: f32, y: f64) -> bool {
        (f64::from(x) - y).abs() <= 1e-4 * y.abs().max(1.0)
    }

    #[test]
    fn kernels_match_a_plain_f64_loop_at_every_length() {
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 100, 128, 1000, 1536] {
            let a = data(n, 7);
            let b = data(n, 99);
            let l2: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(x - y).powi(2))
                .sum();
            let dt: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            let l1d: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from((x - y).abs()))
                .sum();
            for (name, k) in [
                (
                    "dispatched",
                    (l2_squared as Kernel, dot as Kernel, l1 as Kernel),
                ),
                ("portable", (portable::l2, portable::dot, portable::l1)),
            ] {
                assert!(close(k.0(&a, &b), l2), "{name} l2 n={n}");
                assert!(close(k.1(&a, &b), dt), "{name} dot n={n}");
                assert!(close(k.2(&a, &b), l1d), "{name} l1 n={n}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_copy_runs_where_the_cpu_has_it() {
        if kernel_name() != "avx2+fma" {
            eprintln!("no avx2+fma on this CPU: only the portable kernels ran");
            return;
        }
        let a = data(1001, 3);
        let b = data(1001, 5);
        assert!((avx2_fma::l2(&a, &b) - portable::l2(&a, &b)).abs() < 1e-2);
        assert!((avx2_fma::dot(&a, &b) - portable::dot(&a, &b)).abs() < 1e-2);
        assert!((avx2_fma::l1(&a, &b) - portable::l1(&a, &b)).abs() < 1e-2);
    }

    #[test]
    fn norm_of_three_four_is_five() {
        assert_eq!(norm(&[3.0, 4.0]), 5.0);
    }
}

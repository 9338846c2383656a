//! Scalar quantization of the graph's vectors to one byte per dimension, for the search's
//! walk over layer 0: node i's codes are `round((v[d] - min[d]) / scale[d])`, clamped to
//! 0..=255, and a query is scored against codes *asymmetrically* (the query stays `f32`,
//! each code is decoded in the kernel), so the only error is the codes' rounding.
//!
//! Why: a 128-dimension `f32` vector is eight cache lines, and a search at ef 160 over 100k
//! vectors scores a few thousand of them scattered over a 51 MB array: the search waits on
//! memory, not on arithmetic. Codes are two lines, and 100k of them (12.8 MB) stay in the
//! last-level cache. The walk's result is re-scored exactly (`Graph::search`), so what a
//! caller sees is ordered by the true distance.
//!
//! Invariants: `min`, `scale` and the query's prepared arrays all have the graph's
//! dimension; `scale[d] > 0`.

use super::graph::Metric;

/// The per-dimension affine map from `f32` to a byte.
#[derive(Debug, Clone)]
pub struct Quantizer {
    min: Vec<f32>,
    scale: Vec<f32>,
}

/// A query prepared for scoring codes: the metric's stand-in distance to the decoded vector
/// `min + scale * c` is `Σ w[d] (a[d] - c[d])²` (L2), `-(bias + Σ a[d] c[d])` (dot, cosine),
/// `Σ w[d] |a[d] - c[d]|` (L1).
pub struct Prepared {
    metric: Metric,
    a: Vec<f32>,
    w: Vec<f32>,
    bias: f32,
}

impl Quantizer {
    /// The map fitted to `vectors` (`dim` floats each): each dimension's range over them,
    /// widened by 1/64 on both sides so vectors inserted later mostly still fit (the graph
    /// fits again as it grows; a value outside the range is clamped, and the exact re-score
    /// of the walk's result keeps the order right). A step is at least a millionth of the
    /// dimension's magnitude (and `MIN_STEP`), so a dimension that barely varies does not
    /// blow a query's offsets up. None when a range is too wide for the squared steps of L2
    /// to stay finite in `f32` (values beyond about 10^21): such a graph is searched in full
    /// precision.
    pub fn fit<'a>(dim: usize, vectors: impl Iterator<Item = &'a [f32]>) -> Option<Quantizer> {
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for v in vectors {
            for ((l, h), x) in lo.iter_mut().zip(hi.iter_mut()).zip(v) {
                if x.is_finite() {
                    *l = l.min(*x);
                    *h = h.max(*x);
                }
            }
        }
        let mut min = Vec::with_capacity(dim);
        let mut scale = Vec::with_capacity(dim);
        for (l, h) in lo.into_iter().zip(hi) {
            let (l, h) = if l <= h { (l, h) } else { (0.0, 0.0) };
            let (l, h) = (f64::from(l), f64::from(h));
            let pad = (h - l) / 64.0;
            let step = ((h - l + 2.0 * pad) / 255.0)
                .max(l.abs().max(h.abs()) * 1e-6)
                .max(MIN_STEP);
            if step > MAX_STEP {
                return None;
            }
            min.push((l - pad) as f32);
            scale.push(step as f32);
        }
        Some(Quantizer { min, scale })
    }

    pub fn dim(&self) -> usize {
        self.min.len()
    }

    /// Writes `v`'s codes into `out` (one per dimension; missing dimensions code 0.0).
    pub fn encode(&self, v: &[f32], out: &mut [u8]) {
        for (d, o) in out.iter_mut().enumerate() {
            let x = v.get(d).copied().unwrap_or(0.0);
            let (m, s) = (self.min[d], self.scale[d]);
            let c = ((x - m) / s).round();
            *o = if c.is_nan() {
                0
            } else {
                c.clamp(0.0, 255.0) as u8
            };
        }
    }

    /// Codes `vectors` (`dim` floats each) into `codes`, row by row.
    pub fn encode_all(&self, vectors: &[f32], codes: &mut [u8]) {
        let dim = self.dim().max(1);
        for (v, c) in vectors.chunks_exact(dim).zip(codes.chunks_exact_mut(dim)) {
            self.encode(v, c);
        }
    }

    /// `q` prepared for [`Prepared::distance`] under `metric`; None when a distance to some
    /// code could leave `f32`'s range (a query far outside the fitted ranges), which the
    /// caller then scores in full precision.
    pub fn prepare(&self, metric: Metric, q: &[f32]) -> Option<Prepared> {
        let dim = self.dim();
        let qd = |d: usize| f64::from(q.get(d).copied().unwrap_or(0.0));
        let (mut a, mut w, mut bias) = (Vec::with_capacity(dim), Vec::new(), 0.0f64);
        // The largest the distance's sum can get over any codes, in f64.
        let mut bound = 0.0f64;
        for (d, (&m, &s)) in self.min.iter().zip(&self.scale).enumerate() {
            let (m, s) = (f64::from(m), f64::from(s));
            match metric {
                Metric::L2 | Metric::L1 => {
                    let x = (qd(d) - m) / s;
                    let far = x.abs() + 255.0;
                    let wd = if metric == Metric::L2 { s * s } else { s };
                    bound += wd * if metric == Metric::L2 { far * far } else { far };
                    a.push(x as f32);
                    w.push(wd as f32);
                }
                Metric::InnerProduct | Metric::Cosine => {
                    let x = qd(d) * s;
                    bias += qd(d) * m;
                    bound += x.abs() * 255.0;
                    a.push(x as f32);
                }
            }
        }
        bound += bias.abs();
        (bound < LIMIT).then_some(Prepared {
            metric,
            a,
            w,
            bias: bias as f32,
        })
    }
}

/// The smallest step a dimension is coded in (its square is still a normal `f32`).
const MIN_STEP: f64 = 1e-18;

/// The largest step: its square must stay well inside `f32`.
const MAX_STEP: f64 = 1e17;

/// The largest a distance over codes may get (a margin below `f32::MAX` for the kernels'
/// rounding).
const LIMIT: f64 = 1e37;

impl Prepared {
    /// The stand-in distance from the query to the vector coded as `c`.
    #[inline]
    pub fn distance(&self, c: &[u8]) -> f32 {
        match self.metric {
            Metric::L2 => (kernels().l2)(&self.a, &self.w, c),
            Metric::L1 => (kernels().l1)(&self.a, &self.w, c),
            Metric::InnerProduct | Metric::Cosine => -(self.bias + (kernels().dot)(&self.a, c)),
        }
    }
}

type Weighted = fn(&[f32], &[f32], &[u8]) -> f32;
type Plain = fn(&[f32], &[u8]) -> f32;

struct Kernels {
    l2: Weighted,
    l1: Weighted,
    dot: Plain,
}

fn kernels() -> &'static Kernels {
    static CHOSEN: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
    CHOSEN.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if super::distance::has_avx2_fma() {
            return Kernels {
                l2: avx2_fma::l2,
                l1: avx2_fma::l1,
                dot: avx2_fma::dot,
            };
        }
        Kernels {
            l2: |a, w, c| l2_body(a, w, c),
            l1: |a, w, c| l1_body(a, w, c),
            dot: |a, c| dot_body(a, c),
        }
    })
}

const LANES: usize = 16;

#[inline(always)]
fn fold(a: &[f32], w: &[f32], c: &[u8], f: impl Fn(f32, f32, f32, f32) -> f32) -> f32 {
    let n = a.len().min(w.len()).min(c.len());
    let (a, w, c) = (&a[..n], &w[..n], &c[..n]);
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cw = w.chunks_exact(LANES);
    let mut cc = c.chunks_exact(LANES);
    for ((x, y), z) in (&mut ca).zip(&mut cw).zip(&mut cc) {
        for i in 0..LANES {
            acc[i] = f(acc[i], x[i], y[i], f32::from(z[i]));
        }
    }
    let mut tail = 0f32;
    for ((x, y), z) in ca
        .remainder()
        .iter()
        .zip(cw.remainder())
        .zip(cc.remainder())
    {
        tail = f(tail, *x, *y, f32::from(*z));
    }
    acc.iter().fold(tail, |s, v| s + v)
}

#[inline(always)]
fn l2_body(a: &[f32], w: &[f32], c: &[u8]) -> f32 {
    fold(a, w, c, |acc, x, y, z| {
        let d = x - z;
        acc + y * d * d
    })
}

#[inline(always)]
fn l1_body(a: &[f32], w: &[f32], c: &[u8]) -> f32 {
    fold(a, w, c, |acc, x, y, z| acc + y * (x - z).abs())
}

#[inline(always)]
fn dot_body(a: &[f32], c: &[u8]) -> f32 {
    fold(a, a, c, |acc, x, _, z| acc + x * z)
}

#[cfg(target_arch = "x86_64")]
mod avx2_fma {
    use super::fold;

    // SAFETY: callers must run on a CPU with avx2 and fma (the wrappers below check).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn l2_avx(a: &[f32], w: &[f32], c: &[u8]) -> f32 {
        fold(a, w, c, |acc, x, y, z| {
            let d = x - z;
            (y * d).mul_add(d, acc)
        })
    }

    // SAFETY: as above.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn l1_avx(a: &[f32], w: &[f32], c: &[u8]) -> f32 {
        fold(a, w, c, |acc, x, y, z| y.mul_add((x - z).abs(), acc))
    }

    // SAFETY: as above.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx(a: &[f32], c: &[u8]) -> f32 {
        fold(a, a, c, |acc, x, _, z| x.mul_add(z, acc))
    }

    pub fn l2(a: &[f32], w: &[f32], c: &[u8]) -> f32 {
        // SAFETY: `kernels()` hands these out only where avx2 and fma were detected.
        unsafe { l2_avx(a, w, c) }
    }

    pub fn l1(a: &[f32], w: &[f32], c: &[u8]) -> f32 {
        // SAFETY: as in `l2`.
        unsafe { l1_avx(a, w, c) }
    }

    pub fn dot(a: &[f32], c: &[u8]) -> f32 {
        // SAFETY: as in `l2`.
        unsafe { dot_avx(a, c) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(q: &Quantizer, c: &[u8]) -> Vec<f32> {
        c.iter()
            .enumerate()
            .map(|(d, &c)| q.min[d] + q.scale[d] * f32::from(c))
            .collect()
    }

    /// Whether two `f32` distances agree to the rounding their sums allow: `scale` is the
    /// magnitude the terms summed to (for an inner product, whose terms can cancel, the sum of
    /// their absolute values; the result alone would be too tight a yardstick).
    fn close(a: f32, b: f32, scale: f32) -> bool {
        (a - b).abs() <= 1e-3 * a.abs().max(b.abs()).max(scale).max(1.0)
    }

    proptest! {
        /// Fitted vectors decode to within half a step of themselves, and each metric's
        /// distance to the codes is its `f32` distance to the decoded vector (the AVX2
        /// kernels and the portable ones alike, at lengths with and without a tail).
        #[test]
        fn codes_decode_within_half_a_step_and_score_like_the_decoded_vector(
            dim in 1usize..40,
            seed in proptest::collection::vec(-100.0f32..100.0, 40 * 6),
        ) {
            let vs: Vec<&[f32]> = seed.chunks_exact(40).map(|c| &c[..dim]).collect();
            let q = Quantizer::fit(dim, vs.iter().copied()).expect("fits");
            let mut c = vec![0u8; dim];
            for v in &vs[1..] {
                q.encode(v, &mut c);
                let back = decode(&q, &c);
                for d in 0..dim {
                    prop_assert!((back[d] - v[d]).abs() <= q.scale[d] * 0.5 + 1e-3);
                }
                for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine, Metric::L1] {
                    let p = q.prepare(metric, vs[0]).expect("in range");
                    let want = metric.distance(vs[0], &back);
                    let scale = match metric {
                        Metric::InnerProduct | Metric::Cosine => vs[0].iter().zip(&back).map(|(x, y)| (x * y).abs()).sum(),
                        _ => 0.0,
                    };
                    prop_assert!(close(p.distance(&c), want, scale), "{metric:?}");
                    let portable = match metric {
                        Metric::L2 => l2_body(&p.a, &p.w, &c),
                        Metric::L1 => l1_body(&p.a, &p.w, &c),
                        _ => -(p.bias + dot_body(&p.a, &c)),
                    };
                    prop_assert!(close(portable, want, scale), "{metric:?} portable");
                }
            }
        }
    }

    #[test]
    fn values_outside_the_fitted_range_clamp_and_nan_codes_zero() {
        let q = Quantizer::fit(
            2,
            [[0.0f32, 1.0].as_slice(), [10.0, 1.0].as_slice()].into_iter(),
        )
        .expect("fits");
        let mut c = [0u8; 2];
        q.encode(&[1e9, f32::NAN], &mut c);
        assert_eq!(c, [255, 0]);
        q.encode(&[-1e9, 1.0], &mut c);
        assert_eq!(c[0], 0);
        // A constant dimension has a small step, not a zero one.
        assert!(q.scale[1] > 0.0);
        assert_eq!(decode(&q, &c)[1], 1.0);
    }

    #[test]
    fn extreme_ranges_and_queries_fall_back_to_full_precision() {
        let row = |x: f32| vec![x; 4];
        let fit = |rows: &[Vec<f32>]| Quantizer::fit(4, rows.iter().map(Vec::as_slice));
        // A range whose squared step leaves f32: no quantizer at all.
        assert!(fit(&[row(0.0), row(3e21)]).is_none());
        assert!(fit(&[row(-3e38), row(3e38)]).is_none());
        // A range of subnormal width still gets a usable step, and scores stay finite.
        let tiny = fit(&[row(0.0), row(1e-40)]).expect("fits");
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine, Metric::L1] {
            let p = tiny.prepare(metric, &row(1.0)).expect("in range");
            assert!(p.distance(&[0, 9, 255, 3]).is_finite(), "{metric:?}");
        }
        // A query far outside the data's ranges is scored in full precision.
        let unit = fit(&[row(-1.0), row(1.0)]).expect("fits");
        assert!(unit.prepare(Metric::L2, &row(1e30)).is_none());
        assert!(unit.prepare(Metric::InnerProduct, &row(1e38)).is_none());
        assert!(unit.prepare(Metric::L2, &row(50.0)).is_some());
    }
}

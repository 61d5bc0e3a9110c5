using System.Runtime.Intrinsics;
using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// Direct kernels for the factored attentions' low-depth block products (depth = a block's probability columns, ~56):
/// too shallow for the packed GEMM to amortise packing both operands and a separate pass over its output. Here the
/// operands are read in place and the output tile stays in registers over the whole depth, with the per-element
/// epilogue fused. Need Vector512 (callers fall back to the GEMM path otherwise).
/// </summary>
internal static unsafe class FactoredBlockKernels
{
    private const int Nr = 64;          // output columns per tile (4 vectors): a block's [depth, 64] slice of p stays in L1
    private const int DotChunk = 1024;  // token chunk of the row-dot products: both operands' chunks stay in L2

    /// <summary>
    /// One block of the nested score sum, for <paramref name="rows"/> rows of <paramref name="nk"/> tokens:
    /// c[i, j] = r[j]·(from[i, j] + Σ_t a[i, t]·p[t, j] + α_i − σ_i·μ[j]) + ε_i (+ pe[i, j]), with (α_i, σ_i, ε_i) = coef[i·ldcoef ..],
    /// a [rows, depth] with row stride <paramref name="lda"/>, p [depth, nk]; c, from, pe [rows, nk]. <paramref name="from"/> may be c.
    /// </summary>
    public static void CombineBlock(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> coef, int ldcoef, ReadOnlySpan<float> p, int depth,
        ReadOnlySpan<float> from, ReadOnlySpan<float> r, ReadOnlySpan<float> mu, ReadOnlySpan<float> pe, Span<float> c, int rows, int nk, int threads)
    {
        if (rows <= 0 || nk <= 0) return;
        if (depth <= 0 || lda < depth || a.Length < (rows - 1) * lda + depth || coef.Length < (rows - 1) * ldcoef + 3 || p.Length < depth * nk
            || from.Length < rows * nk || c.Length < rows * nk || r.Length < nk || mu.Length < nk || (!pe.IsEmpty && pe.Length < rows * nk))
            throw new ArgumentException("Factored block operands too short.");
        FlopCounter.Add(rows, nk, depth);
        fixed (float* pa = a, pco = coef, pp = p, pf = from, pr = r, pm = mu, ppe = pe, pc = c)
        {
            var args = new CombineArgs(pa, lda, pco, ldcoef, pp, depth, pf, pr, pm, pe.IsEmpty ? null : ppe, pc, rows, nk);
            int tiles = (nk + Nr - 1) / Nr;
            threads = Math.Min(threads, tiles / 8);
            if (threads <= 1) { CombineColumns(args, 0, nk); return; }
            KernelParallel.For(threads, threads, t =>
            {
                int lo = (int)((long)tiles * t / threads) * Nr, hi = Math.Min(nk, (int)((long)tiles * (t + 1) / threads) * Nr);
                CombineColumns(args, lo, hi);
            });
        }
    }

    private readonly struct CombineArgs(float* a, int lda, float* coef, int ldcoef, float* p, int depth, float* from, float* r, float* mu, float* pe, float* c, int rows, int nk)
    {
        public readonly float* A = a, Coef = coef, P = p, From = from, R = r, Mu = mu, Pe = pe, C = c;
        public readonly int Lda = lda, Ldcoef = ldcoef, Depth = depth, Rows = rows, Nk = nk;
    }

    private static void CombineColumns(in CombineArgs g, int lo, int hi)
    {
        int j = lo;
        for (; j + Nr <= hi; j += Nr)
        {
            int i = 0;
            for (; i + 4 <= g.Rows; i += 4) Combine4x64(g, i, j);
            for (; i < g.Rows; i++) CombineRowVectors(g, i, j, Nr / 16);
        }
        for (; j + 16 <= hi; j += 16)
            for (int i = 0; i < g.Rows; i++) CombineRowVectors(g, i, j, 1);
        for (; j < hi; j++)
            for (int i = 0; i < g.Rows; i++)
            {
                float acc = 0;
                for (int t = 0; t < g.Depth; t++) acc += g.A[i * g.Lda + t] * g.P[t * g.Nk + j];
                float* co = g.Coef + i * g.Ldcoef;
                long o = (long)i * g.Nk + j;
                g.C[o] = g.R[j] * (g.From[o] + acc + co[0] - co[1] * g.Mu[j]) + co[2] + (g.Pe == null ? 0f : g.Pe[o]);
            }
    }

    private static void Combine4x64(in CombineArgs g, int i0, int j)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default,
            c20 = default, c21 = default, c22 = default, c23 = default, c30 = default, c31 = default, c32 = default, c33 = default;
        float* a0 = g.A + i0 * g.Lda, a1 = a0 + g.Lda, a2 = a1 + g.Lda, a3 = a2 + g.Lda, pp = g.P + j;
        int nk = g.Nk;
        for (int t = 0; t < g.Depth; t++, pp += nk)
        {
            var b0 = Vector512.Load(pp); var b1 = Vector512.Load(pp + 16); var b2 = Vector512.Load(pp + 32); var b3 = Vector512.Load(pp + 48);
            var x = Vector512.Create(a0[t]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01); c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
            x = Vector512.Create(a1[t]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11); c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
            x = Vector512.Create(a2[t]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21); c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
            x = Vector512.Create(a3[t]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31); c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
        }
        Store4(g, i0, j, c00, c01, c02, c03);
        Store4(g, i0 + 1, j, c10, c11, c12, c13);
        Store4(g, i0 + 2, j, c20, c21, c22, c23);
        Store4(g, i0 + 3, j, c30, c31, c32, c33);
    }

    private static void Store4(in CombineArgs g, int i, int j, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
    {
        Store(g, i, j, v0);
        Store(g, i, j + 16, v1);
        Store(g, i, j + 32, v2);
        Store(g, i, j + 48, v3);
    }

    private static void Store(in CombineArgs g, int i, int j, Vector512<float> acc)
    {
        float* co = g.Coef + i * g.Ldcoef;
        long o = (long)i * g.Nk + j;
        var v = Vector512.Load(g.From + o) + acc + Vector512.Create(co[0]) - Vector512.Create(co[1]) * Vector512.Load(g.Mu + j);
        v = Vector512.Load(g.R + j) * v + Vector512.Create(co[2]);
        if (g.Pe != null) v += Vector512.Load(g.Pe + o);
        v.Store(g.C + o);
    }

    private static void CombineRowVectors(in CombineArgs g, int i, int j, int vectors)
    {
        float* ai = g.A + i * g.Lda;
        for (int v = 0; v < vectors; v++)
        {
            Vector512<float> acc = default;
            float* pp = g.P + j + 16 * v;
            for (int t = 0; t < g.Depth; t++, pp += g.Nk) acc = Vector512.FusedMultiplyAdd(Vector512.Create(ai[t]), Vector512.Load(pp), acc);
            Store(g, i, j + 16 * v, acc);
        }
    }

    /// <summary>
    /// z[i·ldz + j] = Σ_t x[i·nk + t]·p[j·nk + t] for <paramref name="rows"/> rows of x and <paramref name="cols"/> rows of p
    /// (the values' left operand: probabilities against a block's probability columns, both token-contiguous).
    /// </summary>
    public static void RowDots(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> p, int cols, int nk, Span<float> z, int ldz, int threads)
    {
        if (rows <= 0 || cols <= 0) return;
        if (nk < 0 || ldz < cols || x.Length < rows * nk || p.Length < cols * nk || z.Length < (rows - 1) * ldz + cols)
            throw new ArgumentException("Row-dot operands too short.");
        FlopCounter.Add(rows, cols, nk);
        fixed (float* px = x, pp = p, pz = z)
        {
            int quads = (rows + 3) / 4;
            threads = Math.Min(threads, quads / 2);
            if (threads <= 1) { RowDotRange(px, 0, rows, pp, cols, nk, pz, ldz); return; }
            nint xa = (nint)px, pa = (nint)pp, za = (nint)pz;
            KernelParallel.For(threads, threads, t =>
                RowDotRange((float*)xa, quads * t / threads * 4, Math.Min(rows, quads * (t + 1) / threads * 4), (float*)pa, cols, nk, (float*)za, ldz));
        }
    }

    private static void RowDotRange(float* px, int lo, int hi, float* pp, int cols, int nk, float* pz, int ldz)
    {
        {
            for (int i = lo; i < hi; i++) new Span<float>(pz + i * ldz, cols).Clear();
            for (int t0 = 0; t0 < nk; t0 += DotChunk)
            {
                int len = Math.Min(DotChunk, nk - t0);
                int i = lo;
                for (; i + 4 <= hi; i += 4)
                {
                    int j = 0;
                    for (; j + 4 <= cols; j += 4) Dots4x4(px + i * nk + t0, pp + j * nk + t0, nk, len, pz + i * ldz + j, ldz);
                    for (; j < cols; j++)
                        for (int ii = i; ii < i + 4; ii++) pz[ii * ldz + j] += Dot(px + ii * nk + t0, pp + j * nk + t0, len);
                }
                for (; i < hi; i++)
                    for (int j = 0; j < cols; j++) pz[i * ldz + j] += Dot(px + i * nk + t0, pp + j * nk + t0, len);
            }
        }
    }

    private static void Dots4x4(float* x, float* p, int nk, int len, float* z, int ldz)
    {
        Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default,
            s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
        float* x0 = x, x1 = x + nk, x2 = x1 + nk, x3 = x2 + nk, p0 = p, p1 = p + nk, p2 = p1 + nk, p3 = p2 + nk;
        int t = 0;
        for (; t + 16 <= len; t += 16)
        {
            var b0 = Vector512.Load(p0 + t); var b1 = Vector512.Load(p1 + t); var b2 = Vector512.Load(p2 + t); var b3 = Vector512.Load(p3 + t);
            var a = Vector512.Load(x0 + t);
            s00 = Vector512.FusedMultiplyAdd(a, b0, s00); s01 = Vector512.FusedMultiplyAdd(a, b1, s01); s02 = Vector512.FusedMultiplyAdd(a, b2, s02); s03 = Vector512.FusedMultiplyAdd(a, b3, s03);
            a = Vector512.Load(x1 + t);
            s10 = Vector512.FusedMultiplyAdd(a, b0, s10); s11 = Vector512.FusedMultiplyAdd(a, b1, s11); s12 = Vector512.FusedMultiplyAdd(a, b2, s12); s13 = Vector512.FusedMultiplyAdd(a, b3, s13);
            a = Vector512.Load(x2 + t);
            s20 = Vector512.FusedMultiplyAdd(a, b0, s20); s21 = Vector512.FusedMultiplyAdd(a, b1, s21); s22 = Vector512.FusedMultiplyAdd(a, b2, s22); s23 = Vector512.FusedMultiplyAdd(a, b3, s23);
            a = Vector512.Load(x3 + t);
            s30 = Vector512.FusedMultiplyAdd(a, b0, s30); s31 = Vector512.FusedMultiplyAdd(a, b1, s31); s32 = Vector512.FusedMultiplyAdd(a, b2, s32); s33 = Vector512.FusedMultiplyAdd(a, b3, s33);
        }
        AddSums(z, t, len, x0, p0, p1, p2, p3, s00, s01, s02, s03);
        AddSums(z + ldz, t, len, x1, p0, p1, p2, p3, s10, s11, s12, s13);
        AddSums(z + 2 * ldz, t, len, x2, p0, p1, p2, p3, s20, s21, s22, s23);
        AddSums(z + 3 * ldz, t, len, x3, p0, p1, p2, p3, s30, s31, s32, s33);
    }

    private static void AddSums(float* z, int t, int len, float* x, float* p0, float* p1, float* p2, float* p3,
        Vector512<float> s0, Vector512<float> s1, Vector512<float> s2, Vector512<float> s3)
    {
        float z0 = Vector512.Sum(s0), z1 = Vector512.Sum(s1), z2 = Vector512.Sum(s2), z3 = Vector512.Sum(s3);
        for (; t < len; t++)
        {
            z0 += x[t] * p0[t]; z1 += x[t] * p1[t]; z2 += x[t] * p2[t]; z3 += x[t] * p3[t];
        }
        z[0] += z0; z[1] += z1; z[2] += z2; z[3] += z3;
    }

    private static float Dot(float* x, float* p, int len)
    {
        Vector512<float> s = default;
        int t = 0;
        for (; t + 16 <= len; t += 16) s = Vector512.FusedMultiplyAdd(Vector512.Load(x + t), Vector512.Load(p + t), s);
        float sum = Vector512.Sum(s);
        for (; t < len; t++) sum += x[t] * p[t];
        return sum;
    }
}

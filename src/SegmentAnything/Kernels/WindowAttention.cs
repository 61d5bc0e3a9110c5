using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// One head of attention over one small window, softmax(q·kᵀ·scale + bias)·v, in a single pass with
/// AVX-512: the window's keys are transposed once so that four query rows times 64 key columns stay in
/// sixteen registers, and bias, softmax and the value product follow while the scores are in L1.
/// The packed GEMM spends most of its time in edge tiles at these sizes (49 tokens, 32 channels).
/// The score order is the official one: (q·kᵀ)·scale, then + bias.
/// </summary>
internal static unsafe class WindowAttention
{
    private const int W = 16;

    /// <summary>Whether <see cref="Head"/> runs here: AVX-512 and a value width of whole vectors.</summary>
    public static bool IsSupported(int valueDim) => Vector512.IsHardwareAccelerated && valueDim > 0 && valueDim % W == 0;

    /// <summary>Key columns rounded up to whole vectors: the row stride of the padded bias and the scratch.</summary>
    public static int PaddedTokens(int tokens) => (tokens + W - 1) / W * W;

    /// <summary>Floats of scratch <see cref="Head"/> needs.</summary>
    public static int ScratchSize(int tokens, int keyDim) => (keyDim + 4) * PaddedTokens(tokens);

    /// <summary>
    /// Token t's query is <c>q + t·rowStride</c> (likewise k, v); <paramref name="bias"/> is [n, PaddedTokens(n)]
    /// with −∞ in the padding columns; context row t goes to <c>context + t·contextStride</c> (valueDim floats).
    /// </summary>
    public static void Head(float* q, float* k, float* v, int rowStride, int n, int keyDim, int valueDim, float scale,
        float* bias, float* context, int contextStride, float* scratch)
    {
        if (!IsSupported(valueDim) || n <= 0 || keyDim <= 0) throw new ArgumentException("Unsupported window attention shape.");
        int np = PaddedTokens(n);
        // Counted as the two products the official code runs (the bench reports GFLOP/s from these).
        FlopCounter.Add(n, n, keyDim);
        FlopCounter.Add(n, valueDim, n);
        float* kt = scratch, s = scratch + (long)keyDim * np;
        // kᵀ [keyDim, np]; padded key columns are zero so their scores are finite before the −∞ bias.
        for (int p = 0; p < keyDim; p++)
        {
            float* row = kt + (long)p * np;
            for (int j = 0; j < n; j++) row[j] = k[(long)j * rowStride + p];
            for (int j = n; j < np; j++) row[j] = 0f;
        }
        for (int r0 = 0; r0 < n; r0 += 4)
        {
            // A last block with fewer than four rows repeats row n−1; the repeats write identical values.
            int r1 = Math.Min(r0 + 1, n - 1), r2 = Math.Min(r0 + 2, n - 1), r3 = Math.Min(r0 + 3, n - 1);
            float* q0 = q + (long)r0 * rowStride, q1 = q + (long)r1 * rowStride, q2 = q + (long)r2 * rowStride, q3 = q + (long)r3 * rowStride;
            int col = 0;
            for (; col + 4 * W <= np; col += 4 * W) Scores4(q0, q1, q2, q3, kt + col, np, keyDim, s + col);
            for (; col < np; col += W) Scores1(q0, q1, q2, q3, kt + col, np, keyDim, s + col);
            var vs = Vector512.Create(scale);
            SoftmaxRow(s, bias + (long)r0 * np, np, vs);
            SoftmaxRow(s + np, bias + (long)r1 * np, np, vs);
            SoftmaxRow(s + 2 * np, bias + (long)r2 * np, np, vs);
            SoftmaxRow(s + 3 * np, bias + (long)r3 * np, np, vs);
            float* c0 = context + (long)r0 * contextStride, c1 = context + (long)r1 * contextStride;
            float* c2 = context + (long)r2 * contextStride, c3 = context + (long)r3 * contextStride;
            int d = 0;
            for (; d + 2 * W <= valueDim; d += 2 * W) Values2(s, np, v + d, rowStride, n, c0 + d, c1 + d, c2 + d, c3 + d);
            if (d < valueDim) Values1(s, np, v + d, rowStride, n, c0 + d, c1 + d, c2 + d, c3 + d);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scores4(float* q0, float* q1, float* q2, float* q3, float* kt, int np, int kd, float* s)
    {
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a30 = default, a31 = default, a32 = default, a33 = default;
        for (int p = 0; p < kd; p++)
        {
            float* kr = kt + (long)p * np;
            var k0 = Vector512.Load(kr); var k1 = Vector512.Load(kr + W); var k2 = Vector512.Load(kr + 2 * W); var k3 = Vector512.Load(kr + 3 * W);
            var b = Vector512.Create(q0[p]);
            a00 = Vector512.FusedMultiplyAdd(b, k0, a00); a01 = Vector512.FusedMultiplyAdd(b, k1, a01); a02 = Vector512.FusedMultiplyAdd(b, k2, a02); a03 = Vector512.FusedMultiplyAdd(b, k3, a03);
            b = Vector512.Create(q1[p]);
            a10 = Vector512.FusedMultiplyAdd(b, k0, a10); a11 = Vector512.FusedMultiplyAdd(b, k1, a11); a12 = Vector512.FusedMultiplyAdd(b, k2, a12); a13 = Vector512.FusedMultiplyAdd(b, k3, a13);
            b = Vector512.Create(q2[p]);
            a20 = Vector512.FusedMultiplyAdd(b, k0, a20); a21 = Vector512.FusedMultiplyAdd(b, k1, a21); a22 = Vector512.FusedMultiplyAdd(b, k2, a22); a23 = Vector512.FusedMultiplyAdd(b, k3, a23);
            b = Vector512.Create(q3[p]);
            a30 = Vector512.FusedMultiplyAdd(b, k0, a30); a31 = Vector512.FusedMultiplyAdd(b, k1, a31); a32 = Vector512.FusedMultiplyAdd(b, k2, a32); a33 = Vector512.FusedMultiplyAdd(b, k3, a33);
        }
        a00.Store(s); a01.Store(s + W); a02.Store(s + 2 * W); a03.Store(s + 3 * W);
        s += np; a10.Store(s); a11.Store(s + W); a12.Store(s + 2 * W); a13.Store(s + 3 * W);
        s += np; a20.Store(s); a21.Store(s + W); a22.Store(s + 2 * W); a23.Store(s + 3 * W);
        s += np; a30.Store(s); a31.Store(s + W); a32.Store(s + 2 * W); a33.Store(s + 3 * W);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scores1(float* q0, float* q1, float* q2, float* q3, float* kt, int np, int kd, float* s)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int p = 0; p < kd; p++)
        {
            var k0 = Vector512.Load(kt + (long)p * np);
            a0 = Vector512.FusedMultiplyAdd(Vector512.Create(q0[p]), k0, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Create(q1[p]), k0, a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Create(q2[p]), k0, a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Create(q3[p]), k0, a3);
        }
        a0.Store(s); a1.Store(s + np); a2.Store(s + 2 * np); a3.Store(s + 3 * np);
    }

    /// <summary>s ← softmax(s·scale + bias) over np columns (padding columns come out 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SoftmaxRow(float* s, float* bias, int np, Vector512<float> scale)
    {
        var max = Vector512.Create(float.NegativeInfinity);
        for (int j = 0; j < np; j += W)
        {
            var x = Vector512.Load(s + j) * scale + Vector512.Load(bias + j);
            x.Store(s + j);
            max = Vector512.Max(max, x);
        }
        var m = Vector512.Create(Vector512.Max(max, Vector512.Create(float.MinValue)).ToScalarMax());
        var sum = Vector512<float>.Zero;
        for (int j = 0; j < np; j += W)
        {
            var e = VectorMath.Exp(Vector512.Load(s + j) - m);
            e.Store(s + j);
            sum += e;
        }
        var inv = Vector512.Create(1f / Vector512.Sum(sum));
        for (int j = 0; j < np; j += W) (Vector512.Load(s + j) * inv).Store(s + j);
    }

    private static float ToScalarMax(this Vector512<float> v)
    {
        var h = Vector256.Max(v.GetLower(), v.GetUpper());
        var q = Vector128.Max(h.GetLower(), h.GetUpper());
        float m = MathF.Max(q[0], q[1]);
        return MathF.Max(m, MathF.Max(q[2], q[3]));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Values2(float* p, int np, float* v, int rowStride, int n, float* c0, float* c1, float* c2, float* c3)
    {
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        for (int j = 0; j < n; j++)
        {
            float* vr = v + (long)j * rowStride;
            var v0 = Vector512.Load(vr); var v1 = Vector512.Load(vr + W);
            var b = Vector512.Create(p[j]);
            a00 = Vector512.FusedMultiplyAdd(b, v0, a00); a01 = Vector512.FusedMultiplyAdd(b, v1, a01);
            b = Vector512.Create(p[np + j]);
            a10 = Vector512.FusedMultiplyAdd(b, v0, a10); a11 = Vector512.FusedMultiplyAdd(b, v1, a11);
            b = Vector512.Create(p[2 * np + j]);
            a20 = Vector512.FusedMultiplyAdd(b, v0, a20); a21 = Vector512.FusedMultiplyAdd(b, v1, a21);
            b = Vector512.Create(p[3 * np + j]);
            a30 = Vector512.FusedMultiplyAdd(b, v0, a30); a31 = Vector512.FusedMultiplyAdd(b, v1, a31);
        }
        // Repeated rows of a short last block alias each other; they hold identical values.
        a30.Store(c3); a31.Store(c3 + W); a20.Store(c2); a21.Store(c2 + W);
        a10.Store(c1); a11.Store(c1 + W); a00.Store(c0); a01.Store(c0 + W);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Values1(float* p, int np, float* v, int rowStride, int n, float* c0, float* c1, float* c2, float* c3)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int j = 0; j < n; j++)
        {
            var v0 = Vector512.Load(v + (long)j * rowStride);
            a0 = Vector512.FusedMultiplyAdd(Vector512.Create(p[j]), v0, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Create(p[np + j]), v0, a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Create(p[2 * np + j]), v0, a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Create(p[3 * np + j]), v0, a3);
        }
        a3.Store(c3); a2.Store(c2); a1.Store(c1); a0.Store(c0);
    }
}

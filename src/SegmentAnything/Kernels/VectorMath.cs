using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>
/// float32 exp and erf for whole vectors, plus scalar twins computing the same operations in the same
/// order (so a tail element gets exactly what a vector lane would).
/// exp: Cody-Waite reduction by ln 2 and a degree-7 polynomial (≈1.2 ulp).
/// erf: |x| &lt; 1: x·P(x²); 1 ≤ |x| &lt; 3.92: 1 − exp(Q(|x| − 2.5)) with Q ≈ log erfc (a least-squares
/// fit, max relative error 1.75e-7 ≈ 2.4 ulp over [0, 5]); beyond, ±1 (erfc(3.92) is below half an ulp of 1).
/// </summary>
internal static class VectorMath
{
    private const float Log2E = 1.44269504088896341f, Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f;
    private const float ExpMin = -87.33654f, ExpMax = 88.0f;
    private const float E2 = 5.0000001201E-1f, E3 = 1.6666665459E-1f, E4 = 4.1665795894E-2f,
        E5 = 8.3334519073E-3f, E6 = 1.3981999507E-3f, E7 = 1.9875691500E-4f;

    // 2^f = P(f) on [−½, ½]: a degree-5 relative-error minimax fit (max relative error 2.2e-7 in float32 Horner).
    private const float P0 = 1.0000001192092896f, P1 = 0.6931469440460205f, P2 = 0.24022120237350464f,
        P3 = 0.05550713464617729f, P4 = 0.00967554934322834f, P5 = 0.001327649224549532f;
    internal const float Log2EFloat = Log2E;

    // erf(x)/x = P(x²) on [0, 1].
    private const float A0 = 1.1283791f, A1 = -0.37612617f, A2 = 0.11283496f, A3 = -0.026850583f,
        A4 = 0.0051827687f, A5 = -0.0007964794f, A6 = 7.712198E-05f;
    // log erfc(t) = Q(t − 2.5) on [1, 3.92].
    private const float B0 = -7.806815f, B1 = -5.3526807f, B2 = -0.94389373f, B3 = -0.0108581465f,
        B4 = 0.0021655585f, B5 = -0.0004207447f, B6 = 7.688967E-05f, B7 = -1.2949185E-05f,
        B8 = 1.8756228E-06f, B9 = -7.214801E-08f, B10 = -4.752031E-08f;
    internal const float ErfSplit = 1f, ErfOne = 3.92f, ErfShift = 2.5f;

    // ---- scalar ----

    public static float Exp(float q)
    {
        if (float.IsNaN(q)) return q;
        if (q < ExpMin) return 0f;
        q = MathF.Min(q, ExpMax);
        float n = MathF.Round(q * Log2E);
        float r = MathF.FusedMultiplyAdd(n, -Ln2Hi, q);
        r = MathF.FusedMultiplyAdd(n, -Ln2Lo, r);
        float p = MathF.FusedMultiplyAdd(E7, r, E6);
        p = MathF.FusedMultiplyAdd(p, r, E5);
        p = MathF.FusedMultiplyAdd(p, r, E4);
        p = MathF.FusedMultiplyAdd(p, r, E3);
        p = MathF.FusedMultiplyAdd(p, r, E2);
        p = MathF.FusedMultiplyAdd(p, r, 1f);
        p = MathF.FusedMultiplyAdd(p, r, 1f);
        return p * BitConverter.Int32BitsToSingle(((int)n + 127) << 23);
    }

    private static float PolyA(float s)
    {
        float p = MathF.FusedMultiplyAdd(A6, s, A5);
        p = MathF.FusedMultiplyAdd(p, s, A4);
        p = MathF.FusedMultiplyAdd(p, s, A3);
        p = MathF.FusedMultiplyAdd(p, s, A2);
        p = MathF.FusedMultiplyAdd(p, s, A1);
        return MathF.FusedMultiplyAdd(p, s, A0);
    }

    private static float PolyB(float u)
    {
        float p = MathF.FusedMultiplyAdd(B10, u, B9);
        p = MathF.FusedMultiplyAdd(p, u, B8);
        p = MathF.FusedMultiplyAdd(p, u, B7);
        p = MathF.FusedMultiplyAdd(p, u, B6);
        p = MathF.FusedMultiplyAdd(p, u, B5);
        p = MathF.FusedMultiplyAdd(p, u, B4);
        p = MathF.FusedMultiplyAdd(p, u, B3);
        p = MathF.FusedMultiplyAdd(p, u, B2);
        p = MathF.FusedMultiplyAdd(p, u, B1);
        return MathF.FusedMultiplyAdd(p, u, B0);
    }

    public static float Erf(float x)
    {
        float ax = MathF.Abs(x);
        if (ax < ErfSplit) return x * PolyA(x * x);
        if (!(ax < ErfOne)) return float.IsNaN(x) ? x : MathF.CopySign(1f, x);
        return MathF.CopySign(1f - Exp(PolyB(ax - ErfShift)), x);
    }

    /// <summary>1 + erf(z), computed without cancellation for negative z (erfc(|z|) directly).</summary>
    public static float OnePlusErf(float z)
    {
        float az = MathF.Abs(z);
        if (az < ErfSplit) return MathF.FusedMultiplyAdd(z, PolyA(z * z), 1f);
        if (!(az < ErfOne)) return float.IsNaN(z) ? z : z > 0 ? 2f : 0f;
        float e = Exp(PolyB(az - ErfShift));
        return z > 0 ? 2f - e : e;
    }

    // ---- Vector256 ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> q)
    {
        var tiny = Vector256.LessThan(q, Vector256.Create(ExpMin));
        var x = Vector256.MinNative(q, Vector256.Create(ExpMax));
        x = Vector256.MaxNative(x, Vector256.Create(ExpMin));
        var result = Vector256.ConditionalSelect(tiny, Vector256<float>.Zero, ExpInRange(x));
        return Vector256.ConditionalSelect(Vector256.Equals(q, q), result, q);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> PolyA(Vector256<float> s)
    {
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(A6), s, Vector256.Create(A5));
        p = Vector256.FusedMultiplyAdd(p, s, Vector256.Create(A4));
        p = Vector256.FusedMultiplyAdd(p, s, Vector256.Create(A3));
        p = Vector256.FusedMultiplyAdd(p, s, Vector256.Create(A2));
        p = Vector256.FusedMultiplyAdd(p, s, Vector256.Create(A1));
        return Vector256.FusedMultiplyAdd(p, s, Vector256.Create(A0));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> PolyB(Vector256<float> u)
    {
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(B10), u, Vector256.Create(B9));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(B8));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(B7));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(B6));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(B5));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(B4));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(B3));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(B2));
        p = Vector256.FusedMultiplyAdd(p, u, Vector256.Create(B1));
        return Vector256.FusedMultiplyAdd(p, u, Vector256.Create(B0));
    }

    /// <summary>Vector twin of <see cref="OnePlusErf(float)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> OnePlusErf(Vector256<float> z)
    {
        // Most GELU inputs are small: when every lane is, the erfc/exp branch (three quarters of the work)
        // is skipped. Either way each lane gets exactly the bits the scalar twin computes.
        var az = Vector256.Abs(z);
        if (Vector256.LessThanAll(az, Vector256.Create(ErfSplit)))
            return Vector256.FusedMultiplyAdd(z, PolyA(z * z), Vector256<float>.One);
        return OnePlusErfMixed(z, az);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> OnePlusErfMixed(Vector256<float> z, Vector256<float> az)
    {
        var u = Vector256.MinNative(Vector256.MaxNative(az, Vector256.Create(ErfSplit)), Vector256.Create(ErfOne)) - Vector256.Create(ErfShift);
        var e = ExpInRange(PolyB(u));
        var positive = Vector256.GreaterThan(z, Vector256<float>.Zero);
        var mid = Vector256.ConditionalSelect(positive, Vector256.Create(2f) - e, e);
        var far = Vector256.ConditionalSelect(positive, Vector256.Create(2f), Vector256<float>.Zero);
        var r = Vector256.ConditionalSelect(Vector256.LessThan(az, Vector256.Create(ErfOne)), mid, far);
        if (Vector256.LessThanAny(az, Vector256.Create(ErfSplit)))
        {
            var small = Vector256.FusedMultiplyAdd(z, PolyA(z * z), Vector256<float>.One);
            r = Vector256.ConditionalSelect(Vector256.LessThan(az, Vector256.Create(ErfSplit)), small, r);
        }
        return Vector256.ConditionalSelect(Vector256.Equals(z, z), r, z);
    }

    /// <summary><see cref="Exp(Vector256{float})"/> for arguments known to be finite and within
    /// [<see cref="ExpMin"/>, <see cref="ExpMax"/>] (log erfc on the mid range): the same operations, so the
    /// same bits, without the clamping and NaN handling.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ExpInRange(Vector256<float> x)
    {
        var p = ExpPolynomial(x, out var n);
        return p * Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
    }

    /// <summary>e^x = p·2ⁿ: the range reduction and polynomial every exp variant of this width shares (so they agree bit for bit).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ExpPolynomial(Vector256<float> x, out Vector256<float> n)
    {
        n = Vector256.Round(x * Vector256.Create(Log2E));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Hi), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Lo), r);
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(E7), r, Vector256.Create(E6));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(E5));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(E4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(E3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(E2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        return p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Erf(Vector256<float> x)
    {
        var az = Vector256.Abs(x);
        var small = x * PolyA(x * x);
        var u = Vector256.MinNative(Vector256.MaxNative(az, Vector256.Create(ErfSplit)), Vector256.Create(ErfOne)) - Vector256.Create(ErfShift);
        var big = Vector256<float>.One - Exp(PolyB(u));
        big = Vector256.ConditionalSelect(Vector256.LessThan(az, Vector256.Create(ErfOne)), big, Vector256<float>.One);
        big = Vector256.CopySign(big, x);
        var r = Vector256.ConditionalSelect(Vector256.LessThan(az, Vector256.Create(ErfSplit)), small, big);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), r, x);
    }

    // ---- Vector512 ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> q)
    {
        var tiny = Vector512.LessThan(q, Vector512.Create(ExpMin));
        var x = Vector512.MinNative(q, Vector512.Create(ExpMax));
        x = Vector512.MaxNative(x, Vector512.Create(ExpMin));
        var result = Vector512.ConditionalSelect(tiny, Vector512<float>.Zero, ExpInRange(x));
        return Vector512.ConditionalSelect(Vector512.Equals(q, q), result, q);
    }

    /// <summary>
    /// exp(q) for q ≤ 0 (a softmax's shifted scores), with the polynomial of <see cref="Exp(Vector512{float})"/>:
    /// no overflow clamp or NaN select, and 2ⁿ applied with one vscalefps. Below ExpMin the result is
    /// the (denormal or zero) value at ExpMin instead of exactly zero. Needs AVX-512F.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpNonPositive(Vector512<float> q)
    {
        var x = Vector512.MaxNative(q, Vector512.Create(ExpMin));
        var p = ExpPolynomial(x, out var n);
        return System.Runtime.Intrinsics.X86.Avx512F.Scale(p, n);
    }

    /// <summary>
    /// 2^t for the base-2 arguments of a softmax (t = log2e·(s − max), at most a rounding above 0):
    /// t = n + f with f ∈ [−½, ½], 2^f by a degree-5 polynomial, scaled by 2ⁿ. Six FMA-pipe operations
    /// instead of the general exp's eleven, at ≈2 ulp; arguments far below −126 give 0 (vscalefps
    /// underflows gracefully), so no clamp is needed. Not for ±∞ or NaN arguments.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp2Softmax(Vector512<float> t)
    {
        var n = Vector512.Round(t);
        var f = t - n;
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(P5), f, Vector512.Create(P4));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(P3));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(P2));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(P1));
        p = Vector512.FusedMultiplyAdd(p, f, Vector512.Create(P0));
        return System.Runtime.Intrinsics.X86.Avx512F.Scale(p, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PolyA(Vector512<float> s)
    {
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(A6), s, Vector512.Create(A5));
        p = Vector512.FusedMultiplyAdd(p, s, Vector512.Create(A4));
        p = Vector512.FusedMultiplyAdd(p, s, Vector512.Create(A3));
        p = Vector512.FusedMultiplyAdd(p, s, Vector512.Create(A2));
        p = Vector512.FusedMultiplyAdd(p, s, Vector512.Create(A1));
        return Vector512.FusedMultiplyAdd(p, s, Vector512.Create(A0));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PolyB(Vector512<float> u)
    {
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(B10), u, Vector512.Create(B9));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(B8));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(B7));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(B6));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(B5));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(B4));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(B3));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(B2));
        p = Vector512.FusedMultiplyAdd(p, u, Vector512.Create(B1));
        return Vector512.FusedMultiplyAdd(p, u, Vector512.Create(B0));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> OnePlusErf(Vector512<float> z)
    {
        // Most GELU inputs are small: when every lane is, the erfc/exp branch (three quarters of the work)
        // is skipped. Either way each lane gets exactly the bits the scalar twin computes.
        var az = Vector512.Abs(z);
        if (Vector512.LessThanAll(az, Vector512.Create(ErfSplit)))
            return Vector512.FusedMultiplyAdd(z, PolyA(z * z), Vector512<float>.One);
        return OnePlusErfMixed(z, az);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> OnePlusErfMixed(Vector512<float> z, Vector512<float> az)
    {
        var u = Vector512.MinNative(Vector512.MaxNative(az, Vector512.Create(ErfSplit)), Vector512.Create(ErfOne)) - Vector512.Create(ErfShift);
        var e = ExpInRange(PolyB(u));
        var positive = Vector512.GreaterThan(z, Vector512<float>.Zero);
        var mid = Vector512.ConditionalSelect(positive, Vector512.Create(2f) - e, e);
        var far = Vector512.ConditionalSelect(positive, Vector512.Create(2f), Vector512<float>.Zero);
        var r = Vector512.ConditionalSelect(Vector512.LessThan(az, Vector512.Create(ErfOne)), mid, far);
        if (Vector512.LessThanAny(az, Vector512.Create(ErfSplit)))
        {
            var small = Vector512.FusedMultiplyAdd(z, PolyA(z * z), Vector512<float>.One);
            r = Vector512.ConditionalSelect(Vector512.LessThan(az, Vector512.Create(ErfSplit)), small, r);
        }
        return Vector512.ConditionalSelect(Vector512.Equals(z, z), r, z);
    }

    /// <summary><see cref="Exp(Vector512{float})"/> for arguments known to be finite and within
    /// [<see cref="ExpMin"/>, <see cref="ExpMax"/>] (log erfc on the mid range): the same operations, so the
    /// same bits, without the clamping and NaN handling.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpInRange(Vector512<float> x)
    {
        var p = ExpPolynomial(x, out var n);
        return p * Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle();
    }

    /// <summary>e^x = p·2ⁿ: the range reduction and polynomial every exp variant of this width shares (so they agree bit for bit).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpPolynomial(Vector512<float> x, out Vector512<float> n)
    {
        n = Vector512.Round(x * Vector512.Create(Log2E));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Hi), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Lo), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(E7), r, Vector512.Create(E6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        return p;
    }
}

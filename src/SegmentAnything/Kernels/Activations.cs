using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>Element-wise activations, in place, vectorised (Vector512 / Vector256 / scalar) and split
/// across threads for large tensors.</summary>
public static unsafe class Activations
{
    /// <summary>Below this many elements a second thread costs more than it saves.</summary>
    private const int ParallelGrain = 1 << 15;

    /// <summary>Exact GELU, x/2 · (1 + erf(x/√2)), in place (float erf, ≈2 ulp; see <see cref="VectorMath"/>).</summary>
    public static void Gelu(Span<float> x) => Apply(x, GeluRange);

    public static void Relu(Span<float> x) => Apply(x, ReluRange);

    public static void Sigmoid(Span<float> x) => Apply(x, SigmoidRange);

    /// <summary>Vectorised float erf (same approximation GELU uses), in place.</summary>
    public static void Erf(Span<float> x) => Apply(x, ErfRange);

    /// <summary>Exact GELU on one range on the calling thread (a GEMM epilogue).</summary>
    internal static void GeluSerial(float* p, int n) => GeluRange(p, n);

    private unsafe delegate void RangeKernel(float* p, int n);

    private static unsafe void Apply(Span<float> x, RangeKernel kernel)
    {
        fixed (float* p = x)
        {
            if (x.Length < 2 * ParallelGrain || KernelParallel.MaxThreads == 1)
            {
                kernel(p, x.Length);
                return;
            }
            nint ip = (nint)p;
            KernelParallel.ForRanges(x.Length, ParallelGrain, (a, b) => kernel((float*)ip + a, b - a));
        }
    }

    private static unsafe void GeluRange(float* p, int n)
    {
        const float invSqrt2 = 0.70710678118654752440f;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
            {
                var v = Vector512.Load(p + i);
                (v * Vector512.Create(0.5f) * VectorMath.OnePlusErf(v * Vector512.Create(invSqrt2))).Store(p + i);
            }
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.Load(p + i);
                (v * Vector256.Create(0.5f) * VectorMath.OnePlusErf(v * Vector256.Create(invSqrt2))).Store(p + i);
            }
        for (; i < n; i++) p[i] = p[i] * 0.5f * VectorMath.OnePlusErf(p[i] * invSqrt2);
    }

    private static unsafe void ErfRange(float* p, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8) VectorMath.Erf(Vector256.Load(p + i)).Store(p + i);
        for (; i < n; i++) p[i] = VectorMath.Erf(p[i]);
    }

    private static unsafe void ReluRange(float* p, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16) Vector512.Max(Vector512.Load(p + i), Vector512<float>.Zero).Store(p + i);
        for (; i <= n - 8; i += 8) Vector256.Max(Vector256.Load(p + i), Vector256<float>.Zero).Store(p + i);
        for (; i < n; i++) p[i] = p[i] < 0f ? 0f : p[i];
    }

    private static unsafe void SigmoidRange(float* p, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
                (Vector512<float>.One / (Vector512<float>.One + VectorMath.Exp(-Vector512.Load(p + i)))).Store(p + i);
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
                (Vector256<float>.One / (Vector256<float>.One + VectorMath.Exp(-Vector256.Load(p + i)))).Store(p + i);
        for (; i < n; i++) p[i] = 1f / (1f + VectorMath.Exp(-p[i]));
    }
}

public static class MathExtra
{
    /// <summary>erf to double precision (W. J. Cody's rational approximations, as in CALERF).</summary>
    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (double.IsNaN(x)) return x;
        if (ax <= 0.46875)
        {
            double t = x * x;
            double top = (((0.185777706184603153 * t + 3.16112374387056560) * t + 113.864154151050156) * t + 377.485237685302021) * t + 3209.37758913846947;
            double bot = ((((t + 23.6012909523441209) * t + 244.024637934444173) * t + 1282.61652607737228) * t + 2844.23683343917062);
            return x * top / bot;
        }
        double erfc = Erfc(ax);
        return x < 0 ? erfc - 1.0 : 1.0 - erfc;
    }

    /// <summary>erfc to double precision (Cody); accurate in relative terms for large x, unlike 1 − erf.</summary>
    public static double Erfc(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax <= 0.46875) return 1.0 - Erf(x);
        double r;
        if (ax <= 4.0)
        {
            double top = (((((((2.15311535474403846e-8 * ax + 5.64188496988670089e-1) * ax + 8.88314979438837594) * ax + 66.1191906371416295) * ax + 298.635138197400131) * ax + 881.952221241769090) * ax + 1712.04761263407058) * ax + 2051.07837782607147) * ax + 1230.33935479799725;
            double bot = (((((((ax + 15.7449261107098347) * ax + 117.693950891312499) * ax + 537.181101862009858) * ax + 1621.38957456669019) * ax + 3290.79923573345963) * ax + 4362.61909014324716) * ax + 3439.36767414372164) * ax + 1230.33935480374942;
            r = top / bot; // Cody: numerator of degree 8, led by 2.153e-8
        }
        else if (ax >= 27.0) r = 0.0;
        else
        {
            double z = 1.0 / (ax * ax);
            double top = ((((1.63153871373020978e-2 * z + 3.05326634961232344e-1) * z + 3.60344899949804439e-1) * z + 1.25781726111229246e-1) * z + 1.60837851487422766e-2) * z + 6.58749161529837803e-4;
            double bot = ((((z + 2.56852019228982242) * z + 1.87295284992346725) * z + 5.27905102951428412e-1) * z + 6.05183413124413191e-2) * z + 2.33520497626869185e-3;
            r = (0.56418958354775628695 - z * top / bot) / ax;
        }
        // erfc(ax) = exp(-ax²)·r; split the square to keep precision as Cody does.
        double xsq = Math.Truncate(ax * 16.0) / 16.0;
        double del = (ax - xsq) * (ax + xsq);
        double erfc = Math.Exp(-xsq * xsq) * Math.Exp(-del) * r;
        return x < 0 ? 2.0 - erfc : erfc;
    }

    /// <summary>Scalar float erf, the same approximation as the vectorised kernels.</summary>
    public static float ErfF(float x) => VectorMath.Erf(x);
}

using System.Runtime.Intrinsics;

namespace SegmentAnything.Kernels;

/// <summary>Vectorised element-wise helpers for residual adds, scaling and broadcast biases.</summary>
public static unsafe class Elementwise
{
    /// <summary>dst[i] += src[i].</summary>
    public static void Add(Span<float> dst, ReadOnlySpan<float> src)
    {
        if (src.Length < dst.Length) throw new ArgumentException("Add: source shorter than destination.");
        fixed (float* d = dst) fixed (float* s = src)
        {
            int n = dst.Length, i = 0;
            for (; i <= n - 8; i += 8) (Vector256.Load(d + i) + Vector256.Load(s + i)).Store(d + i);
            for (; i < n; i++) d[i] += s[i];
        }
    }

    /// <summary>dst[i] += src[i] over n floats on the calling thread (a GEMM epilogue).</summary>
    internal static void AddSerial(float* d, float* s, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16) (Vector512.Load(d + i) + Vector512.Load(s + i)).Store(d + i);
        for (; i <= n - 8; i += 8) (Vector256.Load(d + i) + Vector256.Load(s + i)).Store(d + i);
        for (; i < n; i++) d[i] += s[i];
    }

    /// <summary>dst[i] = a[i] + b[i].</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> dst)
    {
        if (a.Length < dst.Length || b.Length < dst.Length) throw new ArgumentException("Add: inputs shorter than destination.");
        fixed (float* d = dst) fixed (float* pa = a) fixed (float* pb = b)
        {
            int n = dst.Length, i = 0;
            for (; i <= n - 8; i += 8) (Vector256.Load(pa + i) + Vector256.Load(pb + i)).Store(d + i);
            for (; i < n; i++) d[i] = pa[i] + pb[i];
        }
    }

    /// <summary>x[i] = (x[i] + s) + y[i], in that order (the official broadcast adds of relative positions).</summary>
    public static void AddScalarThenVector(Span<float> x, float s, ReadOnlySpan<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException("AddScalarThenVector: vector shorter than destination.");
        fixed (float* d = x) fixed (float* v = y)
        {
            var vs = Vector256.Create(s);
            int n = x.Length, i = 0;
            for (; i <= n - 8; i += 8) (Vector256.Load(d + i) + vs + Vector256.Load(v + i)).Store(d + i);
            for (; i < n; i++) d[i] = d[i] + s + v[i];
        }
    }

    /// <summary>dst[i] *= src[i].</summary>
    public static void Multiply(Span<float> dst, ReadOnlySpan<float> src)
    {
        if (src.Length < dst.Length) throw new ArgumentException("Multiply: source shorter than destination.");
        fixed (float* d = dst) fixed (float* s = src)
        {
            int n = dst.Length, i = 0;
            for (; i <= n - 8; i += 8) (Vector256.Load(d + i) * Vector256.Load(s + i)).Store(d + i);
            for (; i < n; i++) d[i] *= s[i];
        }
    }

    /// <summary>dst[i] *= scale.</summary>
    public static void Scale(Span<float> dst, float scale)
    {
        fixed (float* d = dst)
        {
            int n = dst.Length, i = 0;
            var v = Vector256.Create(scale);
            for (; i <= n - 8; i += 8) (Vector256.Load(d + i) * v).Store(d + i);
            for (; i < n; i++) d[i] *= scale;
        }
    }

    /// <summary>Adds row vector <paramref name="bias"/> (length cols) to every row of [rows, cols].</summary>
    public static void AddRowVector(Span<float> x, int rows, int cols, ReadOnlySpan<float> bias)
    {
        if (x.Length < (long)rows * cols || bias.Length < cols) throw new ArgumentException("AddRowVector: sizes do not match.");
        for (int r = 0; r < rows; r++) Add(x.Slice(r * cols, cols), bias);
    }

    /// <summary>Multiplies each row of [rows, cols] by its own factor, e.g. a per-channel scale of [C, H·W].</summary>
    public static void ScaleRows(Span<float> x, int rows, int cols, ReadOnlySpan<float> factors)
    {
        if (x.Length < (long)rows * cols || factors.Length < rows) throw new ArgumentException("ScaleRows: sizes do not match.");
        for (int r = 0; r < rows; r++) Scale(x.Slice(r * cols, cols), factors[r]);
    }
}

using System.Numerics;
using System.Runtime.InteropServices;

namespace SegmentAnything.Kernels;

/// <summary>Element-wise vector operations.</summary>
public static class VectorOps
{
    /// <summary>x += y.</summary>
    public static void Add(Span<float> x, ReadOnlySpan<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException("Operand too short.");
        var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
        var vy = MemoryMarshal.Cast<float, Vector<float>>(y[..x.Length]);
        for (int i = 0; i < vx.Length; i++) vx[i] += vy[i];
        for (int i = vx.Length * Vector<float>.Count; i < x.Length; i++) x[i] += y[i];
    }

    /// <summary>dst = a + b.</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> dst)
    {
        var va = MemoryMarshal.Cast<float, Vector<float>>(a[..dst.Length]);
        var vb = MemoryMarshal.Cast<float, Vector<float>>(b[..dst.Length]);
        var vd = MemoryMarshal.Cast<float, Vector<float>>(dst);
        for (int i = 0; i < vd.Length; i++) vd[i] = va[i] + vb[i];
        for (int i = vd.Length * Vector<float>.Count; i < dst.Length; i++) dst[i] = a[i] + b[i];
    }

    /// <summary>x *= s.</summary>
    public static void Scale(Span<float> x, float s)
    {
        var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
        for (int i = 0; i < vx.Length; i++) vx[i] *= s;
        for (int i = vx.Length * Vector<float>.Count; i < x.Length; i++) x[i] *= s;
    }

    /// <summary>x[i] = (x[i] + s) + y[i], in that order (the official broadcast adds).</summary>
    public static void AddBiasThenVector(Span<float> x, float s, ReadOnlySpan<float> y)
    {
        var vs = new Vector<float>(s);
        var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
        var vy = MemoryMarshal.Cast<float, Vector<float>>(y[..x.Length]);
        for (int i = 0; i < vx.Length; i++) vx[i] = vx[i] + vs + vy[i];
        for (int i = vx.Length * Vector<float>.Count; i < x.Length; i++) x[i] = x[i] + s + y[i];
    }
}

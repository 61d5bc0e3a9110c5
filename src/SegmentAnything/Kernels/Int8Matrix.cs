using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SegmentAnything.Kernels;

/// <summary>
/// Int8 weights W[n, k] (symmetric, one scale per output row, values in [-127, 127]) packed for the int8
/// kernels: panels of 16 output columns; inside a panel, for each group of 4 consecutive k, the 16 columns'
/// 4 bytes side by side (64 bytes), so one vector load feeds 16 four-way dot products.
/// </summary>
public sealed unsafe class Int8Matrix
{
    public const int PanelWidth = 16;
    public const int GroupDepth = 4;
    public const int GroupBytes = PanelWidth * GroupDepth;

    public int N { get; }
    public int K { get; }
    internal int KGroups { get; }
    internal int Panels { get; }
    /// <summary>Per output column, padded with zeros to whole panels.</summary>
    internal float[] Scales { get; }
    private readonly sbyte[] _storage;
    private readonly nint _offset;

    internal sbyte* Panel(int p) =>
        (sbyte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage)) + _offset + (long)p * KGroups * GroupBytes;

    /// <param name="weight">Row-major [n, k], each value in [-127, 127] (-128 would break the sign trick's exactness).</param>
    /// <param name="scales">Dequantisation scale of each output row.</param>
    public Int8Matrix(ReadOnlySpan<sbyte> weight, ReadOnlySpan<float> scales, int n, int k)
    {
        if (n < 0 || k < 0) throw new ArgumentException("Negative int8 matrix size.");
        if (weight.Length != (long)n * k) throw new ArgumentException("Int8 weight has the wrong size.");
        if (scales.Length != n) throw new ArgumentException("Int8 weight needs one scale per output row.");
        (N, K) = (n, k);
        KGroups = (k + GroupDepth - 1) / GroupDepth;
        Panels = (n + PanelWidth - 1) / PanelWidth;
        long bytes = (long)Panels * KGroups * GroupBytes;
        if (bytes + 64 > Array.MaxLength) throw new ArgumentException("Int8 matrix too large.");
        _storage = GC.AllocateArray<sbyte>((int)bytes + 64, pinned: true);
        nint p0 = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
        _offset = ((p0 + 63) & ~(nint)63) - p0;
        Scales = new float[Panels * PanelWidth];
        scales.CopyTo(Scales);
        for (int row = 0; row < n; row++)
        {
            ReadOnlySpan<sbyte> src = weight.Slice(row * k, k);
            foreach (sbyte v in src)
                if (v == sbyte.MinValue) throw new ArgumentException("Int8 weights must lie in [-127, 127].");
            sbyte* panel = Panel(row / PanelWidth);
            int col = row % PanelWidth;
            for (int kk = 0; kk < k; kk++)
                panel[(kk / GroupDepth) * GroupBytes + col * GroupDepth + kk % GroupDepth] = src[kk];
        }
    }
}

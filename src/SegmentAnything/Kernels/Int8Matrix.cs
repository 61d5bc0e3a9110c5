using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SegmentAnything.Kernels;

/// <summary>
/// Int8 weights W[n, k] (symmetric, one scale per output row, values in [-127, 127]) packed for the int8
/// kernels, in one of two layouts:
/// <list type="bullet">
/// <item>byte panels (AVX2, AVX-VNNI, scalar): panels of 16 output columns; for each group of 4 consecutive
/// k, the 16 columns' 4 bytes side by side (64 bytes), so one vector load feeds 16 four-way dot products;</item>
/// <item>wide panels (AVX-512BW): panels of 32 output columns; for each pair of consecutive k, the 32
/// columns' 2 values widened to int16 side by side (128 bytes = two 512-bit vectors), the operand of
/// vpmaddwd. Twice the bytes, but one multiply instruction per 32 multiply-adds and no sign handling.</item>
/// </list>
/// The layout the best kernel of this CPU needs is packed at construction; the other one is derived from it
/// on first use (tests and explicit ISA choices), so a model holds only one copy of its weights.
/// </summary>
public sealed unsafe class Int8Matrix
{
    public const int PanelWidth = 16;
    public const int GroupDepth = 4;
    public const int GroupBytes = PanelWidth * GroupDepth;
    public const int WidePanelWidth = 32;

    public int N { get; }
    public int K { get; }
    internal int KGroups { get; }
    internal int Panels { get; }
    /// <summary>Pairs of k of the wide layout (k rounded up to even, zero-padded).</summary>
    internal int KPairs { get; }
    internal int WidePanels { get; }
    /// <summary>Per output column, padded with zeros to whole panels of either layout.</summary>
    internal float[] Scales { get; }

    private sbyte[]? _bytes;
    private nint _bytesOffset;
    private short[]? _wide;
    private nint _wideOffset;
    private readonly Lock _lock = new();

    /// <summary>Byte-layout panel <paramref name="p"/> (16 columns x KGroups groups of 4 k).</summary>
    internal sbyte* Panel(int p)
    {
        if (_bytes is null) lock (_lock) if (_bytes is null) PackBytes(FromWide);
        return (sbyte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_bytes!)) + _bytesOffset + (long)p * KGroups * GroupBytes;
    }

    /// <summary>Wide-layout panel <paramref name="p"/> (32 columns x KPairs pairs of k, int16).</summary>
    internal short* WidePanel(int p)
    {
        if (_wide is null) lock (_lock) if (_wide is null) PackWide(FromBytes);
        return (short*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_wide!)) + _wideOffset + (long)p * KPairs * 2 * WidePanelWidth;
    }

    /// <param name="weight">Row-major [n, k], each value in [-127, 127] (-128 would break the kernels' exactness).</param>
    /// <param name="scales">Dequantisation scale of each output row.</param>
    public Int8Matrix(ReadOnlySpan<sbyte> weight, ReadOnlySpan<float> scales, int n, int k)
    {
        if (n < 0 || k < 0) throw new ArgumentException("Negative int8 matrix size.");
        if (weight.Length != (long)n * k) throw new ArgumentException("Int8 weight has the wrong size.");
        if (scales.Length != n) throw new ArgumentException("Int8 weight needs one scale per output row.");
        if (weight.IndexOf(sbyte.MinValue) >= 0) throw new ArgumentException("Int8 weights must lie in [-127, 127].");
        // int32 sums of k products of at most 127·127 must not overflow.
        if (k > int.MaxValue / (127 * 127)) throw new ArgumentException("Int8 matrix depth too large for int32 accumulation.");
        (N, K) = (n, k);
        KGroups = (k + GroupDepth - 1) / GroupDepth;
        Panels = (n + PanelWidth - 1) / PanelWidth;
        KPairs = (k + 1) / 2;
        WidePanels = (n + WidePanelWidth - 1) / WidePanelWidth;
        Scales = new float[WidePanels * WidePanelWidth];
        scales.CopyTo(Scales);
        fixed (sbyte* src = weight)
        {
            sbyte* s = src;
            if (Int8IsaInfo.Best == Int8Isa.Avx512BW) PackWide((r, c) => s[(long)r * k + c]);
            else PackBytes((r, c) => s[(long)r * k + c]);
        }
    }

    private delegate sbyte Element(int row, int col);

    private static T[] AllocateAligned<T>(long count, out nint offset) where T : unmanaged
    {
        long extra = 64 / sizeof(T);
        if (count + extra > Array.MaxLength) throw new ArgumentException("Int8 matrix too large.");
        var array = GC.AllocateArray<T>((int)(count + extra), pinned: true);
        nint p0 = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        offset = (((p0 + 63) & ~(nint)63) - p0) / sizeof(T);
        return array;
    }

    private void PackBytes(Element at)
    {
        var bytes = AllocateAligned<sbyte>((long)Panels * KGroups * GroupBytes, out nint offset);
        sbyte* base0 = (sbyte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(bytes)) + offset;
        for (int row = 0; row < N; row++)
        {
            sbyte* panel = base0 + (long)(row / PanelWidth) * KGroups * GroupBytes;
            int col = row % PanelWidth;
            for (int kk = 0; kk < K; kk++)
                panel[(long)(kk / GroupDepth) * GroupBytes + col * GroupDepth + kk % GroupDepth] = at(row, kk);
        }
        _bytesOffset = offset;
        _bytes = bytes;
    }

    private void PackWide(Element at)
    {
        var wide = AllocateAligned<short>((long)WidePanels * KPairs * 2 * WidePanelWidth, out nint offset);
        short* base0 = (short*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(wide)) + offset;
        for (int row = 0; row < N; row++)
        {
            short* panel = base0 + (long)(row / WidePanelWidth) * KPairs * 2 * WidePanelWidth;
            int col = row % WidePanelWidth;
            for (int kk = 0; kk < K; kk++)
                panel[(long)(kk / 2) * 2 * WidePanelWidth + col * 2 + kk % 2] = at(row, kk);
        }
        _wideOffset = offset;
        _wide = wide;
    }

    private sbyte FromWide(int row, int kk)
    {
        short* panel = (short*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_wide!)) + _wideOffset
            + (long)(row / WidePanelWidth) * KPairs * 2 * WidePanelWidth;
        return (sbyte)panel[(long)(kk / 2) * 2 * WidePanelWidth + row % WidePanelWidth * 2 + kk % 2];
    }

    private sbyte FromBytes(int row, int kk)
    {
        sbyte* panel = (sbyte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_bytes!)) + _bytesOffset
            + (long)(row / PanelWidth) * KGroups * GroupBytes;
        return panel[(long)(kk / GroupDepth) * GroupBytes + row % PanelWidth * GroupDepth + kk % GroupDepth];
    }
}

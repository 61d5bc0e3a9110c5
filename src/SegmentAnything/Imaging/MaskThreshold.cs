using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SegmentAnything.Imaging;

/// <summary>Logits to booleans without an intermediate array: 32 comparisons per step, narrowed to bytes.</summary>
public static class MaskThresholding
{
    /// <summary>dst[i] = logits[i] &gt; 0, or ≥ 0 when <paramref name="inclusive"/>.</summary>
    public static void Threshold(ReadOnlySpan<float> logits, Span<bool> dst, bool inclusive)
    {
        if (dst.Length < logits.Length) throw new ArgumentException($"Destination of {dst.Length} values is smaller than {logits.Length}.");
        ref float s = ref MemoryMarshal.GetReference(logits);
        ref byte d = ref Unsafe.As<bool, byte>(ref MemoryMarshal.GetReference(dst));
        int n = logits.Length, i = 0;
        var one = Vector256.Create((sbyte)1);
        for (; i + 32 <= n; i += 32)
        {
            var a = Compare(Vector256.LoadUnsafe(ref s, (nuint)i), inclusive);
            var b = Compare(Vector256.LoadUnsafe(ref s, (nuint)(i + 8)), inclusive);
            var c = Compare(Vector256.LoadUnsafe(ref s, (nuint)(i + 16)), inclusive);
            var e = Compare(Vector256.LoadUnsafe(ref s, (nuint)(i + 24)), inclusive);
            // All-ones lanes narrow to −1; the mask with 1 leaves the bytes a bool must hold.
            var bytes = Vector256.Narrow(Vector256.Narrow(a, b), Vector256.Narrow(c, e)) & one;
            bytes.AsByte().StoreUnsafe(ref d, (nuint)i);
        }
        for (; i < n; i++) Unsafe.Add(ref d, i) = (byte)((inclusive ? Unsafe.Add(ref s, i) >= 0f : Unsafe.Add(ref s, i) > 0f) ? 1 : 0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Compare(Vector256<float> v, bool inclusive) =>
        (inclusive ? Vector256.GreaterThanOrEqual(v, Vector256<float>.Zero) : Vector256.GreaterThan(v, Vector256<float>.Zero)).AsInt32();
}

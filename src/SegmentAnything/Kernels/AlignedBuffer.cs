using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SegmentAnything.Kernels;

/// <summary>
/// A growable, pinned, 64-byte aligned scratch buffer. Packed GEMM panels are read with full-width
/// vector loads, so cache-line alignment avoids split loads; pinning lets kernels keep raw pointers.
/// </summary>
internal sealed unsafe class AlignedBuffer
{
    private float[] _array = [];
    private float* _aligned;
    private long _capacity;

    [ThreadStatic] private static AlignedBuffer? t_packA, t_packB, t_scratch;

    internal static AlignedBuffer PackA => t_packA ??= new AlignedBuffer();
    internal static AlignedBuffer PackB => t_packB ??= new AlignedBuffer();
    internal static AlignedBuffer Scratch => t_scratch ??= new AlignedBuffer();

    public float* Get(long floats)
    {
        if (floats > _capacity)
        {
            long want = Math.Max(floats, _capacity + _capacity / 2);
            if (want + 16 > Array.MaxLength) throw new OutOfMemoryException("Kernel scratch buffer too large.");
            _array = GC.AllocateUninitializedArray<float>((int)(want + 16), pinned: true);
            nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
            _aligned = (float*)((p + 63) & ~(nint)63);
            _capacity = want;
        }
        return _aligned;
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SegmentAnything.Kernels;

/// <summary>
/// A right-hand GEMM operand B[k,n] packed once into the micro-kernel's panel layout (KC blocks of NR
/// panels), for weights used by many products. Tied to the kernel family it was packed for.
/// </summary>
public sealed unsafe class PackedMatrix
{
    public int K { get; }
    public int N { get; }
    internal GemmIsa Isa { get; }
    private readonly float[] _storage;
    private readonly nint _offset;

    internal float* Pointer => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage)) + _offset;

    private PackedMatrix(GemmIsa isa, int k, int n, long floats)
    {
        (Isa, K, N) = (isa, k, n);
        if (floats + 16 > Array.MaxLength) throw new ArgumentException("Packed matrix too large.");
        _storage = GC.AllocateArray<float>((int)floats + 16, pinned: true);
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
        _offset = (((p + 63) & ~(nint)63) - p) / sizeof(float);
    }

    /// <summary>Storage for a [k, n] operand whose panels the caller fills (e.g. band by band as it is produced).</summary>
    internal static PackedMatrix Allocate(GemmIsa isa, int k, int n)
    {
        if (k < 0 || n < 0) throw new ArgumentException("Negative matrix dimension.");
        int nr = GemmIsaInfo.Nr(isa);
        long nPad = (n + nr - 1) / nr * nr;
        return new PackedMatrix(isa, k, n, Math.Max(1, nPad * k));
    }

    internal static PackedMatrix Create(GemmIsa isa, ReadOnlySpan<float> b, int k, int n, int ldb, bool transposed)
    {
        if (k < 0 || n < 0) throw new ArgumentException("Negative matrix dimension.");
        Gemm.CheckOperand(b, 0, transposed ? n : k, transposed ? k : n, ldb, "B");
        int nr = GemmIsaInfo.Nr(isa);
        long nPad = (n + nr - 1) / nr * nr;
        var packed = new PackedMatrix(isa, k, n, Math.Max(1, nPad * k));
        packed.Fill(b, ldb, transposed);
        return packed;
    }

    /// <summary>
    /// Packs new values of the same shape into this matrix's storage, for an operand that changes per use
    /// but is used by several products (no allocation per repack).
    /// </summary>
    internal void Repack(ReadOnlySpan<float> b, int ldb, bool transposed)
    {
        Gemm.CheckOperand(b, 0, transposed ? N : K, transposed ? K : N, ldb, "B");
        Fill(b, ldb, transposed);
    }

    private void Fill(ReadOnlySpan<float> b, int ldb, bool transposed)
    {
        int k = K, n = N;
        if (k == 0 || n == 0) return;
        int nr = GemmIsaInfo.Nr(Isa);
        long nPad = (n + nr - 1) / nr * nr;
        int kcBlock = GemmDriver.KcBlock(k);
        int panels = (int)(nPad / nr);
        fixed (float* pb = b)
        {
            var src = new MatrixRef(pb, ldb, transposed);
            float* dst = Pointer;
            for (int pc = 0; pc < k; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, k - pc);
                // Same layout the driver builds per block: [pc·nPad] then panel-major [kc][NR].
                for (int jp = 0; jp < panels; jp++)
                    GemmPacking.PackBPanel(src, jp * nr, Math.Min(nr, n - jp * nr), pc, kc, nr, dst + pc * nPad + (long)jp * kc * nr);
            }
        }
    }
}

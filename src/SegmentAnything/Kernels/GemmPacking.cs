using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Runtime.CompilerServices;

namespace SegmentAnything.Kernels;

/// <summary>
/// An operand of a product as the caller stores it: element (row, col) of the logical matrix is at
/// Ptr[row·Ld + col], or Ptr[col·Ld + row] when Transposed.
/// </summary>
internal readonly unsafe struct MatrixRef(float* ptr, nint ld, bool transposed)
{
    public readonly float* Ptr = ptr;
    public readonly nint Ld = ld;
    public readonly bool Transposed = transposed;
}

/// <summary>
/// Packing into the micro-kernels' panel layouts: A as MR-row panels stored k-major ([kc][MR]), B as
/// NR-column panels stored k-major ([kc][NR]); ragged edges are zero-padded so the kernels never branch.
/// </summary>
internal static unsafe class GemmPacking
{
    /// <summary>Packs rows [i0, i0+rows) x depth [p0, p0+kc) of A into one MR panel.</summary>
    public static void PackAPanel(MatrixRef a, int i0, int rows, int p0, int kc, int mr, float* dst)
    {
        if (a.Transposed)
        {
            // Rows of A are contiguous columns of the stored matrix: copy runs of MR (whole runs of 8 and 12,
            // the attention's value panels and the 512-bit kernel's height, as vectors).
            if (rows == mr && (mr == 8 || mr == 12) && Vector256.IsHardwareAccelerated)
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = a.Ptr + (nint)(p0 + p) * a.Ld + i0;
                    float* d = dst + (nint)p * mr;
                    Vector256.Store(Vector256.Load(src), d);
                    if (mr == 12) Vector128.Store(Vector128.Load(src + 8), d + 8);
                }
                return;
            }
            for (int p = 0; p < kc; p++)
            {
                float* src = a.Ptr + (nint)(p0 + p) * a.Ld + i0;
                float* d = dst + (nint)p * mr;
                int i = 0;
                for (; i < rows; i++) d[i] = src[i];
                for (; i < mr; i++) d[i] = 0f;
            }
            return;
        }
        int done = 0;
        if (rows == mr && mr % 4 == 0 && Avx.IsSupported) done = PackRowsTransposed4(a.Ptr + (nint)i0 * a.Ld + p0, a.Ld, mr, kc, dst);
        if (done == kc) return;
        for (int i = 0; i < rows; i++)
        {
            float* src = a.Ptr + (nint)(i0 + i) * a.Ld + p0 + done;
            float* d = dst + (nint)done * mr + i;
            int p = 0, left = kc - done;
            for (; p + 4 <= left; p += 4)
            {
                d[(nint)p * mr] = src[p];
                d[(nint)(p + 1) * mr] = src[p + 1];
                d[(nint)(p + 2) * mr] = src[p + 2];
                d[(nint)(p + 3) * mr] = src[p + 3];
            }
            for (; p < left; p++) d[(nint)p * mr] = src[p];
        }
        for (int i = rows; i < mr; i++)
            for (int p = 0; p < kc; p++) dst[(nint)p * mr + i] = 0f;
    }

    /// <summary>
    /// The depth-major transpose of a full panel (mr rows, a multiple of 4) for depths [0, kc rounded down
    /// to 8): each group of four rows x eight depths is transposed in registers (unpack, shuffle) and
    /// stored as eight 4-float runs. Returns the depths done; the caller packs the rest.
    /// </summary>
    private static int PackRowsTransposed4(float* src, nint ld, int mr, int kc, float* dst)
    {
        int whole = kc / 8 * 8;
        for (int g = 0; g < mr; g += 4)
        {
            float* s0 = src + g * ld, s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld;
            for (int p = 0; p < whole; p += 8)
            {
                var r0 = Avx.LoadVector256(s0 + p);
                var r1 = Avx.LoadVector256(s1 + p);
                var r2 = Avx.LoadVector256(s2 + p);
                var r3 = Avx.LoadVector256(s3 + p);
                var t0 = Avx.UnpackLow(r0, r1);  // r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5]
                var t1 = Avx.UnpackHigh(r0, r1); // depths 2, 3 | 6, 7
                var t2 = Avx.UnpackLow(r2, r3);
                var t3 = Avx.UnpackHigh(r2, r3);
                var u0 = Avx.Shuffle(t0, t2, 0x44); // depth 0 | depth 4, rows g..g+3
                var u1 = Avx.Shuffle(t0, t2, 0xEE); // depth 1 | depth 5
                var u2 = Avx.Shuffle(t1, t3, 0x44); // depth 2 | depth 6
                var u3 = Avx.Shuffle(t1, t3, 0xEE); // depth 3 | depth 7
                float* d = dst + (nint)p * mr + g;
                u0.GetLower().Store(d);
                u1.GetLower().Store(d + mr);
                u2.GetLower().Store(d + 2 * mr);
                u3.GetLower().Store(d + 3 * mr);
                u0.GetUpper().Store(d + 4 * mr);
                u1.GetUpper().Store(d + 5 * mr);
                u2.GetUpper().Store(d + 6 * mr);
                u3.GetUpper().Store(d + 7 * mr);
            }
        }
        return whole;
    }

    /// <summary>Packs columns [j0, j0+cols) x depth [p0, p0+kc) of B into one NR panel.</summary>
    public static void PackBPanel(MatrixRef b, int j0, int cols, int p0, int kc, int nr, float* dst)
    {
        if (!b.Transposed)
        {
            for (int p = 0; p < kc; p++)
            {
                float* src = b.Ptr + (nint)(p0 + p) * b.Ld + j0;
                float* d = dst + (nint)p * nr;
                if (cols == nr) Unsafe.CopyBlockUnaligned(d, src, (uint)(nr * sizeof(float)));
                else
                {
                    int j = 0;
                    for (; j < cols; j++) d[j] = src[j];
                    for (; j < nr; j++) d[j] = 0f;
                }
            }
            return;
        }
        for (int j = 0; j < cols; j++)
        {
            float* src = b.Ptr + (nint)(j0 + j) * b.Ld + p0;
            float* d = dst + j;
            int p = 0;
            for (; p + 4 <= kc; p += 4)
            {
                d[(nint)p * nr] = src[p];
                d[(nint)(p + 1) * nr] = src[p + 1];
                d[(nint)(p + 2) * nr] = src[p + 2];
                d[(nint)(p + 3) * nr] = src[p + 3];
            }
            for (; p < kc; p++) d[(nint)p * nr] = src[p];
        }
        for (int j = cols; j < nr; j++)
            for (int p = 0; p < kc; p++) dst[(nint)p * nr + j] = 0f;
    }
}

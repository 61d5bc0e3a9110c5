using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SegmentAnything.Kernels;

/// <summary>
/// Single-precision matrix products, row-major. C[m,n] (+)= A[m,k] · B[k,n], or · B[n,k]^T.
/// </summary>
public static class Gemm
{
    public static void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n,
        bool bTransposed = false, bool accumulate = false)
    {
        if (a.Length < (long)m * k || b.Length < (long)k * n || c.Length < (long)m * n)
            throw new ArgumentException("GEMM operand too small.");
        if (!accumulate) c[..(m * n)].Clear();
        if (m == 0 || n == 0 || k == 0) return;
        unsafe
        {
            fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c)
            {
                float* A = pa, B = pb, C = pc;
                if (bTransposed)
                {
                    // Transpose B once so the inner loop streams contiguous rows.
                    float[] bt = new float[(long)k * n];
                    fixed (float* pbt = bt)
                    {
                        float* BT = pbt;
                        for (int j = 0; j < n; j++)
                            for (int p = 0; p < k; p++) BT[(long)p * n + j] = B[(long)j * k + p];
                        Run(A, BT, C, m, k, n);
                    }
                }
                else Run(A, B, C, m, k, n);
            }
        }
    }

    private static unsafe void Run(float* a, float* b, float* c, int m, int k, int n)
    {
        long work = (long)m * k * n;
        if (work < 1 << 16 || m < 2)
        {
            for (int i = 0; i < m; i++) Row(a + (long)i * k, b, c + (long)i * n, k, n);
            return;
        }
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c;
        int chunks = Math.Min(m, Environment.ProcessorCount * 4);
        Parallel.For(0, chunks, t =>
        {
            int r0 = (int)((long)m * t / chunks), r1 = (int)((long)m * (t + 1) / chunks);
            float* A = (float*)pa, B = (float*)pb, C = (float*)pc;
            for (int i = r0; i < r1; i++) Row(A + (long)i * k, B, C + (long)i * n, k, n);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Row(float* aRow, float* b, float* cRow, int k, int n)
    {
        int w = Vector<float>.Count;
        for (int p = 0; p < k; p++)
        {
            float av = aRow[p];
            if (av == 0f) continue;
            var va = new Vector<float>(av);
            float* bRow = b + (long)p * n;
            int j = 0;
            for (; j <= n - w; j += w)
            {
                var vc = Unsafe.ReadUnaligned<Vector<float>>(cRow + j);
                var vb = Unsafe.ReadUnaligned<Vector<float>>(bRow + j);
                Unsafe.WriteUnaligned(cRow + j, vc + va * vb);
            }
            for (; j < n; j++) cRow[j] += av * bRow[j];
        }
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SegmentAnything.Kernels;

/// <summary>
/// Int8 micro-kernels, exact int32 sums over all k. Byte-layout kernels (AVX2, AVX-VNNI, scalar): 4
/// activation rows x one 16-column weight panel, written to acc[row * 16 + col]; the AVX-512BW kernel works
/// on the wide int16 layout (<see cref="Wide12x32"/>). Activations and weights both lie in [-127, 127]; the SIMD kernels use
/// the sign trick (|a| as the unsigned operand, sign(a)·w as the signed one), so a vpmaddubsw pair sum is at
/// most 2·127·127 = 32258 and never saturates.
/// </summary>
internal static unsafe class Int8MicroKernels
{
    public const int Mr = 4;

    public static void Scalar(sbyte* a, nint lda, sbyte* w, int kGroups, int* acc)
    {
        for (int r = 0; r < Mr; r++)
            for (int j = 0; j < Int8Matrix.PanelWidth; j++)
            {
                int sum = 0;
                for (int g = 0; g < kGroups; g++)
                {
                    sbyte* av = a + r * lda + g * 4;
                    sbyte* wv = w + g * Int8Matrix.GroupBytes + j * 4;
                    sum += av[0] * wv[0] + av[1] * wv[1] + av[2] * wv[2] + av[3] * wv[3];
                }
                acc[r * Int8Matrix.PanelWidth + j] = sum;
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot256(Vector256<sbyte> a, Vector256<sbyte> w, Vector256<short> ones) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(a), Avx2.Sign(w, a)), ones);

    public static void Avx2Kernel(sbyte* a, nint lda, sbyte* w, int kGroups, int* acc)
    {
        var ones = Vector256.Create((short)1);
        Vector256<int> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        sbyte* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        for (int g = 0; g < kGroups; g++, w += Int8Matrix.GroupBytes)
        {
            var w0 = Avx.LoadVector256(w);
            var w1 = Avx.LoadVector256(w + 32);
            var b = Vector256.Create(*(int*)(a0 + 4 * g)).AsSByte();
            c00 = Avx2.Add(c00, Dot256(b, w0, ones)); c01 = Avx2.Add(c01, Dot256(b, w1, ones));
            b = Vector256.Create(*(int*)(a1 + 4 * g)).AsSByte();
            c10 = Avx2.Add(c10, Dot256(b, w0, ones)); c11 = Avx2.Add(c11, Dot256(b, w1, ones));
            b = Vector256.Create(*(int*)(a2 + 4 * g)).AsSByte();
            c20 = Avx2.Add(c20, Dot256(b, w0, ones)); c21 = Avx2.Add(c21, Dot256(b, w1, ones));
            b = Vector256.Create(*(int*)(a3 + 4 * g)).AsSByte();
            c30 = Avx2.Add(c30, Dot256(b, w0, ones)); c31 = Avx2.Add(c31, Dot256(b, w1, ones));
        }
        c00.Store(acc); c01.Store(acc + 8); c10.Store(acc + 16); c11.Store(acc + 24);
        c20.Store(acc + 32); c21.Store(acc + 40); c30.Store(acc + 48); c31.Store(acc + 56);
    }

    public static void AvxVnniKernel(sbyte* a, nint lda, sbyte* w, int kGroups, int* acc)
    {
        Vector256<int> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        sbyte* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        for (int g = 0; g < kGroups; g++, w += Int8Matrix.GroupBytes)
        {
            var w0 = Avx.LoadVector256(w);
            var w1 = Avx.LoadVector256(w + 32);
            var b = Vector256.Create(*(int*)(a0 + 4 * g)).AsSByte();
            var ub = Avx2.Abs(b);
            c00 = AvxVnni.MultiplyWideningAndAdd(c00, ub, Avx2.Sign(w0, b)); c01 = AvxVnni.MultiplyWideningAndAdd(c01, ub, Avx2.Sign(w1, b));
            b = Vector256.Create(*(int*)(a1 + 4 * g)).AsSByte(); ub = Avx2.Abs(b);
            c10 = AvxVnni.MultiplyWideningAndAdd(c10, ub, Avx2.Sign(w0, b)); c11 = AvxVnni.MultiplyWideningAndAdd(c11, ub, Avx2.Sign(w1, b));
            b = Vector256.Create(*(int*)(a2 + 4 * g)).AsSByte(); ub = Avx2.Abs(b);
            c20 = AvxVnni.MultiplyWideningAndAdd(c20, ub, Avx2.Sign(w0, b)); c21 = AvxVnni.MultiplyWideningAndAdd(c21, ub, Avx2.Sign(w1, b));
            b = Vector256.Create(*(int*)(a3 + 4 * g)).AsSByte(); ub = Avx2.Abs(b);
            c30 = AvxVnni.MultiplyWideningAndAdd(c30, ub, Avx2.Sign(w0, b)); c31 = AvxVnni.MultiplyWideningAndAdd(c31, ub, Avx2.Sign(w1, b));
        }
        c00.Store(acc); c01.Store(acc + 8); c10.Store(acc + 16); c11.Store(acc + 24);
        c20.Store(acc + 32); c21.Store(acc + 40); c30.Store(acc + 48); c31.Store(acc + 56);
    }

    public const int WideMr = 12, WideNr = Int8Matrix.WidePanelWidth;

    /// <summary>
    /// 12 activation rows x one 32-column wide panel with AVX-512BW vpmaddwd: both operands are int8 values
    /// widened to int16 pairs (row r's k pair broadcast as one int32), so a product pair sum is exact and at
    /// most 2·127·127; 24 int32 accumulators stay in registers over all k, like the float 12x32 kernel.
    /// Without vpdpbusd (AVX-512 VNNI is unreachable from .NET 10) this is as many multiply instructions per
    /// multiply-add as vpmaddubsw + vpmaddwd, with fewer instructions and no sign handling.
    /// a: [kPairs][12] int32 (two int16 each); b: [kPairs][32 columns][2] int16; acc: [12][32].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Wide12x32(int* a, short* b, int kPairs, int* acc)
    {
        Vector512<int> c0_0 = default, c0_1 = default;
        Vector512<int> c1_0 = default, c1_1 = default;
        Vector512<int> c2_0 = default, c2_1 = default;
        Vector512<int> c3_0 = default, c3_1 = default;
        Vector512<int> c4_0 = default, c4_1 = default;
        Vector512<int> c5_0 = default, c5_1 = default;
        Vector512<int> c6_0 = default, c6_1 = default;
        Vector512<int> c7_0 = default, c7_1 = default;
        Vector512<int> c8_0 = default, c8_1 = default;
        Vector512<int> c9_0 = default, c9_1 = default;
        Vector512<int> c10_0 = default, c10_1 = default;
        Vector512<int> c11_0 = default, c11_1 = default;
        for (int p = 0; p < kPairs; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 32);
            var a0 = Vector512.Create(a[0]).AsInt16();
            c0_0 += Avx512BW.MultiplyAddAdjacent(a0, b0);
            c0_1 += Avx512BW.MultiplyAddAdjacent(a0, b1);
            var a1 = Vector512.Create(a[1]).AsInt16();
            c1_0 += Avx512BW.MultiplyAddAdjacent(a1, b0);
            c1_1 += Avx512BW.MultiplyAddAdjacent(a1, b1);
            var a2 = Vector512.Create(a[2]).AsInt16();
            c2_0 += Avx512BW.MultiplyAddAdjacent(a2, b0);
            c2_1 += Avx512BW.MultiplyAddAdjacent(a2, b1);
            var a3 = Vector512.Create(a[3]).AsInt16();
            c3_0 += Avx512BW.MultiplyAddAdjacent(a3, b0);
            c3_1 += Avx512BW.MultiplyAddAdjacent(a3, b1);
            var a4 = Vector512.Create(a[4]).AsInt16();
            c4_0 += Avx512BW.MultiplyAddAdjacent(a4, b0);
            c4_1 += Avx512BW.MultiplyAddAdjacent(a4, b1);
            var a5 = Vector512.Create(a[5]).AsInt16();
            c5_0 += Avx512BW.MultiplyAddAdjacent(a5, b0);
            c5_1 += Avx512BW.MultiplyAddAdjacent(a5, b1);
            var a6 = Vector512.Create(a[6]).AsInt16();
            c6_0 += Avx512BW.MultiplyAddAdjacent(a6, b0);
            c6_1 += Avx512BW.MultiplyAddAdjacent(a6, b1);
            var a7 = Vector512.Create(a[7]).AsInt16();
            c7_0 += Avx512BW.MultiplyAddAdjacent(a7, b0);
            c7_1 += Avx512BW.MultiplyAddAdjacent(a7, b1);
            var a8 = Vector512.Create(a[8]).AsInt16();
            c8_0 += Avx512BW.MultiplyAddAdjacent(a8, b0);
            c8_1 += Avx512BW.MultiplyAddAdjacent(a8, b1);
            var a9 = Vector512.Create(a[9]).AsInt16();
            c9_0 += Avx512BW.MultiplyAddAdjacent(a9, b0);
            c9_1 += Avx512BW.MultiplyAddAdjacent(a9, b1);
            var a10 = Vector512.Create(a[10]).AsInt16();
            c10_0 += Avx512BW.MultiplyAddAdjacent(a10, b0);
            c10_1 += Avx512BW.MultiplyAddAdjacent(a10, b1);
            var a11 = Vector512.Create(a[11]).AsInt16();
            c11_0 += Avx512BW.MultiplyAddAdjacent(a11, b0);
            c11_1 += Avx512BW.MultiplyAddAdjacent(a11, b1);
            a += WideMr;
            b += 2 * WideNr;
        }
        c0_0.Store(acc + 0); c0_1.Store(acc + 16);
        c1_0.Store(acc + 32); c1_1.Store(acc + 48);
        c2_0.Store(acc + 64); c2_1.Store(acc + 80);
        c3_0.Store(acc + 96); c3_1.Store(acc + 112);
        c4_0.Store(acc + 128); c4_1.Store(acc + 144);
        c5_0.Store(acc + 160); c5_1.Store(acc + 176);
        c6_0.Store(acc + 192); c6_1.Store(acc + 208);
        c7_0.Store(acc + 224); c7_1.Store(acc + 240);
        c8_0.Store(acc + 256); c8_1.Store(acc + 272);
        c9_0.Store(acc + 288); c9_1.Store(acc + 304);
        c10_0.Store(acc + 320); c10_1.Store(acc + 336);
        c11_0.Store(acc + 352); c11_1.Store(acc + 368);
    }
}

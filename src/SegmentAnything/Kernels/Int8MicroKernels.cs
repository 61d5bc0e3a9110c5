using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SegmentAnything.Kernels;

/// <summary>
/// Int8 micro-kernels: 4 activation rows x one 16-column weight panel, exact int32 sums over all k groups,
/// written to acc[row * 16 + col]. Activations and weights both lie in [-127, 127]; the SIMD kernels use
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

    /// <summary>AVX-512 has no vpsignb: the sign is moved onto the weights with a per-row mask blend of w and -w.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Dot512(Vector512<sbyte> a, Vector512<sbyte> w, Vector512<sbyte> negW, Vector512<short> ones)
    {
        var signed = Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512<sbyte>.Zero), negW, w);
        return Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(a), signed), ones);
    }

    public static void Avx512Kernel(sbyte* a, nint lda, sbyte* w, int kGroups, int* acc)
    {
        var ones = Vector512.Create((short)1);
        Vector512<int> c0 = default, c1 = default, c2 = default, c3 = default;
        sbyte* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        for (int g = 0; g < kGroups; g++, w += Int8Matrix.GroupBytes)
        {
            var wv = Vector512.Load(w);
            var nw = Vector512<sbyte>.Zero - wv;
            c0 += Dot512(Vector512.Create(*(int*)(a0 + 4 * g)).AsSByte(), wv, nw, ones);
            c1 += Dot512(Vector512.Create(*(int*)(a1 + 4 * g)).AsSByte(), wv, nw, ones);
            c2 += Dot512(Vector512.Create(*(int*)(a2 + 4 * g)).AsSByte(), wv, nw, ones);
            c3 += Dot512(Vector512.Create(*(int*)(a3 + 4 * g)).AsSByte(), wv, nw, ones);
        }
        c0.Store(acc); c1.Store(acc + 16); c2.Store(acc + 32); c3.Store(acc + 48);
    }
}

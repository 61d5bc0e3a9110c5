using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SegmentAnything.Imaging;

/// <summary>
/// The taps of SAM's <c>postprocess_masks</c> for one geometry (bilinear low → imgSize², crop to the
/// input size, bilinear to the original size), laid out for vector kernels. Immutable and shared by
/// every thread upsampling masks of that geometry; the last one built is cached, since a process
/// upsamples thousands of masks of the same image.
/// </summary>
internal sealed class SamUpsamplePlan
{
    public readonly int LowH, LowW, ImgSize, InH, InW, OutH, OutW;

    /// <summary>Stage 1 horizontally (only the columns inside the crop) and stage 2 horizontally.</summary>
    public readonly HorizontalTaps H1, H2;

    /// <summary>Stage 1 vertically (rows inside the crop) and stage 2 vertically.</summary>
    public readonly TorchResize.Taps V1, V2;

    /// <summary>Output columns are handled in blocks of 64 (one word of mask bits); <see cref="Blocks"/> of them.</summary>
    public const int BlockWidth = 64;

    public readonly int Blocks;

    /// <summary>
    /// Per output block: the crop columns its values read, widened to whole 16-column vectors
    /// ([CropStart, CropEnd)), and the low-resolution columns they depend on ([LowColFirst, LowColLast]).
    /// </summary>
    public readonly int[] CropStart, CropEnd, LowColFirst, LowColLast;

    /// <summary>Per output row: the low-resolution rows its values depend on ([LowRowFirst, LowRowLast]).</summary>
    public readonly int[] LowRowFirst, LowRowLast;

    /// <summary>Low-resolution rows [0, LowRowsUsed) are read at all (the rest lie in the padding).</summary>
    public readonly int LowRowsUsed;

    private static SamUpsamplePlan? _last;

    private SamUpsamplePlan(int lowH, int lowW, int imgSize, (int H, int W) inputSize, (int H, int W) originalSize)
    {
        (LowH, LowW, ImgSize, InH, InW, OutH, OutW) = (lowH, lowW, imgSize, inputSize.H, inputSize.W, originalSize.H, originalSize.W);
        H1 = new HorizontalTaps(TorchResize.Taps.Linear(lowW, imgSize), InW, lowW);
        V1 = TorchResize.Taps.Linear(lowH, imgSize);
        H2 = new HorizontalTaps(TorchResize.Taps.Linear(InW, OutW), OutW, InW);
        V2 = TorchResize.Taps.Linear(InH, OutH);
        Blocks = (OutW + BlockWidth - 1) / BlockWidth;
        (CropStart, CropEnd, LowColFirst, LowColLast) = (new int[Blocks], new int[Blocks], new int[Blocks], new int[Blocks]);
        for (int k = 0; k < Blocks; k++)
        {
            int x0 = k * BlockWidth, x1 = Math.Min(OutW, x0 + BlockWidth);
            int c0 = int.MaxValue, c1 = -1;
            for (int x = x0; x < x1; x++) (c0, c1) = (Math.Min(c0, Math.Min(H2.I0[x], H2.I1[x])), Math.Max(c1, Math.Max(H2.I0[x], H2.I1[x])));
            CropStart[k] = c0 / 16 * 16;
            CropEnd[k] = Math.Min(InW, (c1 + 16) / 16 * 16);
            int l0 = int.MaxValue, l1 = -1;
            for (int c = c0; c <= c1; c++) (l0, l1) = (Math.Min(l0, Math.Min(H1.I0[c], H1.I1[c])), Math.Max(l1, Math.Max(H1.I0[c], H1.I1[c])));
            (LowColFirst[k], LowColLast[k]) = (l0, l1);
        }
        (LowRowFirst, LowRowLast) = (new int[OutH], new int[OutH]);
        for (int y = 0; y < OutH; y++)
        {
            int r0 = V2.Index[2 * y], r1 = V2.Index[2 * y + 1];
            LowRowFirst[y] = Math.Min(Math.Min(V1.Index[2 * r0], V1.Index[2 * r0 + 1]), Math.Min(V1.Index[2 * r1], V1.Index[2 * r1 + 1]));
            LowRowLast[y] = Math.Max(Math.Max(V1.Index[2 * r0], V1.Index[2 * r0 + 1]), Math.Max(V1.Index[2 * r1], V1.Index[2 * r1 + 1]));
            LowRowsUsed = Math.Max(LowRowsUsed, LowRowLast[y] + 1);
        }
    }

    public static SamUpsamplePlan For(int lowH, int lowW, int imgSize, (int H, int W) inputSize, (int H, int W) originalSize)
    {
        var last = Volatile.Read(ref _last);
        if (last is not null && last.Matches(lowH, lowW, imgSize, inputSize, originalSize)) return last;
        if (lowH <= 0 || lowW <= 0 || imgSize <= 0)
            throw new ArgumentException($"Invalid low-resolution mask {lowW}x{lowH} or image size {imgSize}.");
        if (inputSize.H <= 0 || inputSize.W <= 0 || inputSize.H > imgSize || inputSize.W > imgSize)
            throw new ArgumentException($"Input size {inputSize.W}x{inputSize.H} must lie inside {imgSize}x{imgSize}.");
        if (originalSize.H <= 0 || originalSize.W <= 0)
            throw new ArgumentException($"Original size {originalSize.W}x{originalSize.H} must be positive.");
        var plan = new SamUpsamplePlan(lowH, lowW, imgSize, inputSize, originalSize);
        Volatile.Write(ref _last, plan);
        return plan;
    }

    public bool Matches(int lowH, int lowW, int imgSize, (int H, int W) inputSize, (int H, int W) originalSize) =>
        (lowH, lowW, imgSize, inputSize, originalSize) == (LowH, LowW, ImgSize, (InH, InW), (OutH, OutW));

    /// <summary>Which vector kernels run; lowered by tests to check the narrower paths against the widest.</summary>
    internal static int VectorBits { get; set; } = Avx512F.IsSupported && Vector512.IsHardwareAccelerated ? 512 : Avx2.IsSupported && Fma.IsSupported ? 256 : 0;

    /// <summary>dst[x] = src[i0]·w0 + src[i1]·w1 (one fused multiply-add, as aten) for x in [0, Count).</summary>
    public static unsafe void Horizontal(float* src, float* dst, HorizontalTaps t) => Horizontal(src, dst, t, 0, t.Count);

    /// <summary>The outputs [<paramref name="from"/>, <paramref name="to"/>) of <see cref="Horizontal(float*, float*, HorizontalTaps)"/>; <paramref name="from"/> a multiple of 16.</summary>
    public static unsafe void Horizontal(float* src, float* dst, HorizontalTaps t, int from, int to)
    {
        int n = to, x = from, bits = VectorBits;
        fixed (int* i0 = t.I0, i1 = t.I1, rel0 = t.Rel16_0, rel1 = t.Rel16_1, start16 = t.Start16, rel80 = t.Rel8_0, rel81 = t.Rel8_1, start8 = t.Start8)
        fixed (float* w0 = t.W0, w1 = t.W1)
        {
            if (bits >= 512)
            {
                // Sixteen outputs read a window of at most 32 consecutive inputs (up- or mildly down-sampling):
                // two loads and two two-register permutes instead of gathers.
                for (; x <= n - 16; x += 16)
                {
                    int start = start16[x >> 4];
                    if (start < 0)
                    {
                        for (int j = x; j < x + 16; j++) dst[j] = MathF.FusedMultiplyAdd(src[i0[j]], w0[j], src[i1[j]] * w1[j]);
                        continue;
                    }
                    var lo = Vector512.Load(src + start);
                    var hi = Vector512.Load(src + start + 16);
                    var a = Avx512F.PermuteVar16x32x2(lo, Vector512.Load(rel0 + x), hi);
                    var b = Avx512F.PermuteVar16x32x2(lo, Vector512.Load(rel1 + x), hi);
                    Vector512.FusedMultiplyAdd(a, Vector512.Load(w0 + x), b * Vector512.Load(w1 + x)).Store(dst + x);
                }
            }
            if (bits >= 256)
            {
                for (; x <= n - 8; x += 8)
                {
                    int start = start8[x >> 3];
                    if (start < 0)
                    {
                        for (int j = x; j < x + 8; j++) dst[j] = MathF.FusedMultiplyAdd(src[i0[j]], w0[j], src[i1[j]] * w1[j]);
                        continue;
                    }
                    var window = Avx.LoadVector256(src + start);
                    var a = Avx2.PermuteVar8x32(window, Avx.LoadVector256(rel80 + x));
                    var b = Avx2.PermuteVar8x32(window, Avx.LoadVector256(rel81 + x));
                    Avx.Store(dst + x, Fma.MultiplyAdd(a, Avx.LoadVector256(w0 + x), Avx.Multiply(b, Avx.LoadVector256(w1 + x))));
                }
            }
            for (; x < n; x++) dst[x] = MathF.FusedMultiplyAdd(src[i0[x]], w0[x], src[i1[x]] * w1[x]);
        }
    }

    /// <summary>dst[x] = r0[x]·w0 + r1[x]·w1 for x in [0, n).</summary>
    public static unsafe void Vertical(float* r0, float* r1, float w0, float w1, float* dst, int n) => Vertical(r0, r1, w0, w1, dst, 0, n);

    /// <summary>dst[x] = r0[x]·w0 + r1[x]·w1 for x in [from, n).</summary>
    public static unsafe void Vertical(float* r0, float* r1, float w0, float w1, float* dst, int from, int n)
    {
        int x = from, bits = VectorBits;
        if (bits >= 512)
        {
            var v0 = Vector512.Create(w0);
            var v1 = Vector512.Create(w1);
            for (; x <= n - 16; x += 16)
                Vector512.FusedMultiplyAdd(Vector512.Load(r0 + x), v0, Vector512.Load(r1 + x) * v1).Store(dst + x);
        }
        if (bits >= 256)
        {
            var v0 = Vector256.Create(w0);
            var v1 = Vector256.Create(w1);
            for (; x <= n - 8; x += 8)
                Vector256.FusedMultiplyAdd(Vector256.Load(r0 + x), v0, Vector256.Load(r1 + x) * v1).Store(dst + x);
        }
        for (; x < n; x++) dst[x] = MathF.FusedMultiplyAdd(r0[x], w0, r1[x] * w1);
    }
}

/// <summary>
/// Linear taps split into per-tap arrays for vector loads, the first <see cref="Count"/> outputs. Per
/// block of sixteen (eight) outputs: the first input of the 32 (8) consecutive inputs they read and each
/// tap's offset in that window; −1 when the block reads a wider span or the input is too short.
/// </summary>
internal sealed class HorizontalTaps
{
    public readonly int Count;
    public readonly int[] I0, I1, Rel16_0, Rel16_1, Start16, Rel8_0, Rel8_1, Start8;
    public readonly float[] W0, W1;

    public HorizontalTaps(TorchResize.Taps taps, int count, int inputLength)
    {
        Count = count;
        (I0, I1, W0, W1) = (new int[count], new int[count], new float[count], new float[count]);
        for (int i = 0; i < count; i++)
        {
            (I0[i], I1[i]) = (taps.Index[2 * i], taps.Index[2 * i + 1]);
            (W0[i], W1[i]) = (taps.Weight[2 * i], taps.Weight[2 * i + 1]);
        }
        (Rel16_0, Rel16_1, Start16) = Windows(16, 32, inputLength);
        (Rel8_0, Rel8_1, Start8) = Windows(8, 8, inputLength);
    }

    private (int[] Rel0, int[] Rel1, int[] Start) Windows(int block, int window, int inputLength)
    {
        var rel0 = new int[Count];
        var rel1 = new int[Count];
        var start = new int[Count / block];
        for (int b = 0; b < start.Length; b++)
        {
            int x = block * b, lo = int.MaxValue, hi = -1;
            for (int j = x; j < x + block; j++)
            {
                lo = Math.Min(lo, Math.Min(I0[j], I1[j]));
                hi = Math.Max(hi, Math.Max(I0[j], I1[j]));
            }
            // Near the end of the input the window slides left so that it never reads past it.
            int s = Math.Min(lo, inputLength - window);
            bool fits = s >= 0 && hi - s < window;
            start[b] = fits ? s : -1;
            for (int j = x; j < x + block; j++) (rel0[j], rel1[j]) = fits ? (I0[j] - s, I1[j] - s) : (0, 0);
        }
        return (rel0, rel1, start);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SegmentAnything.Imaging;

namespace SegmentAnything.AutomaticMasks;

/// <summary>
/// SAM's <c>postprocess_masks</c> for one low-resolution mask (bilinear to imgSize², crop to the input
/// size, bilinear to the original size) streamed one output row at a time, bit for bit what
/// <see cref="MaskPostprocessing.Postprocess"/> computes: the same taps, weights and fused multiply-adds
/// per value, but only the intermediate rows the next stage reads, each computed once and kept in a
/// two-row window, so nothing larger than a row is ever written.
/// </summary>
internal sealed unsafe class SamMaskUpsampler
{
    private readonly int _lowH, _lowW, _inH, _inW, _outW;
    private readonly HorizontalTaps _h1, _h2;
    private readonly TorchResize.Taps _v1, _v2;
    private readonly RowWindow _stage1, _stage2;
    private readonly float[] _cropRow;
    private float[] _low = [];

    public int OutputHeight { get; }
    public int OutputWidth => _outW;

    public SamMaskUpsampler(int lowH, int lowW, int imgSize, (int H, int W) inputSize, (int H, int W) originalSize)
    {
        (_lowH, _lowW, _inH, _inW, OutputHeight, _outW) = (lowH, lowW, inputSize.H, inputSize.W, originalSize.H, originalSize.W);
        // Stage 1 (low → imgSize²) is only ever read inside the input-size crop: its first inW columns and inH rows.
        _h1 = new HorizontalTaps(TorchResize.Taps.Linear(lowW, imgSize), _inW, lowW);
        _v1 = TorchResize.Taps.Linear(lowH, imgSize);
        _h2 = new HorizontalTaps(TorchResize.Taps.Linear(_inW, _outW), _outW, _inW);
        _v2 = TorchResize.Taps.Linear(_inH, OutputHeight);
        _stage1 = new RowWindow(_inW);
        _stage2 = new RowWindow(_outW);
        _cropRow = GC.AllocateUninitializedArray<float>(_inW, pinned: true);
    }

    public bool Matches(int lowH, int lowW, (int H, int W) inputSize, (int H, int W) originalSize) =>
        (lowH, lowW, inputSize, originalSize) == (_lowH, _lowW, (_inH, _inW), (OutputHeight, _outW));

    /// <summary>Starts a new mask: [lowH, lowW] logits.</summary>
    public void Begin(ReadOnlySpan<float> lowRes)
    {
        if (lowRes.Length != _lowH * _lowW) throw new ArgumentException($"Expected {_lowH}x{_lowW} logits, got {lowRes.Length}.");
        if (_low.Length != lowRes.Length) _low = GC.AllocateUninitializedArray<float>(lowRes.Length, pinned: true);
        lowRes.CopyTo(_low);
        _stage1.Clear();
        _stage2.Clear();
    }

    /// <summary>Output row <paramref name="y"/> (rows in increasing order) into <paramref name="dst"/>.</summary>
    public void Row(int y, float* dst)
    {
        int m0 = _v2.Index[2 * y], m1 = _v2.Index[2 * y + 1];
        float* a = Stage2(m0, m1), b = Stage2(m1, m0);
        Vertical(a, b, _v2.Weight[2 * y], _v2.Weight[2 * y + 1], dst, _outW);
    }

    /// <summary>Row r of the crop upsampled horizontally to the output width.</summary>
    private float* Stage2(int r, int keep)
    {
        float* slot = _stage2.Get(r, keep, out bool hit);
        if (hit) return slot;
        int j0 = _v1.Index[2 * r], j1 = _v1.Index[2 * r + 1];
        float* a = Stage1(j0, j1), b = Stage1(j1, j0);
        fixed (float* crop = _cropRow)
        {
            Vertical(a, b, _v1.Weight[2 * r], _v1.Weight[2 * r + 1], crop, _inW);
            Horizontal(crop, slot, _h2);
        }
        return slot;
    }

    /// <summary>Low-resolution row r upsampled horizontally (the columns inside the crop).</summary>
    private float* Stage1(int r, int keep)
    {
        float* slot = _stage1.Get(r, keep, out bool hit);
        if (hit) return slot;
        fixed (float* low = _low) Horizontal(low + (long)r * _lowW, slot, _h1);
        return slot;
    }

    private static void Horizontal(float* src, float* dst, HorizontalTaps t)
    {
        int n = t.Count, x = 0;
        fixed (int* i0 = t.I0, i1 = t.I1, rel0 = t.Rel0, rel1 = t.Rel1, windowStart = t.WindowStart)
        fixed (float* w0 = t.W0, w1 = t.W1)
        {
            if (Avx2.IsSupported && Fma.IsSupported)
            {
                // Eight outputs read a window of at most eight consecutive inputs (when upsampling): one
                // load and two in-register permutes instead of a gather, which is slow on many CPUs.
                for (int block = 0; x <= n - 8; x += 8, block++)
                {
                    int start = windowStart[block];
                    if (start < 0)
                    {
                        for (int j = x; j < x + 8; j++) dst[j] = MathF.FusedMultiplyAdd(src[i0[j]], w0[j], src[i1[j]] * w1[j]);
                        continue;
                    }
                    var window = Avx.LoadVector256(src + start);
                    var a = Avx2.PermuteVar8x32(window, Avx.LoadVector256(rel0 + x));
                    var b = Avx2.PermuteVar8x32(window, Avx.LoadVector256(rel1 + x));
                    Avx.Store(dst + x, Fma.MultiplyAdd(a, Avx.LoadVector256(w0 + x), Avx.Multiply(b, Avx.LoadVector256(w1 + x))));
                }
            }
            for (; x < n; x++) dst[x] = MathF.FusedMultiplyAdd(src[i0[x]], w0[x], src[i1[x]] * w1[x]);
        }
    }

    private static void Vertical(float* r0, float* r1, float w0, float w1, float* dst, int n)
    {
        int x = 0;
        var v0 = Vector256.Create(w0);
        var v1 = Vector256.Create(w1);
        for (; x <= n - 8; x += 8)
            Vector256.FusedMultiplyAdd(Vector256.Load(r0 + x), v0, Vector256.Load(r1 + x) * v1).Store(dst + x);
        for (; x < n; x++) dst[x] = MathF.FusedMultiplyAdd(r0[x], w0, r1[x] * w1);
    }

    /// <summary>
    /// Linear taps split into per-tap arrays for vector loads, the first <see cref="Count"/> outputs; per
    /// block of eight outputs, the first input of the eight-input window they read (−1 when they read
    /// more, or the window would run past the <paramref name="inputLength"/> inputs) and each tap's
    /// offset in it.
    /// </summary>
    private sealed class HorizontalTaps
    {
        public readonly int Count;
        public readonly int[] I0, I1, Rel0, Rel1, WindowStart;
        public readonly float[] W0, W1;

        public HorizontalTaps(TorchResize.Taps taps, int count, int inputLength)
        {
            Count = count;
            (I0, I1, W0, W1) = (new int[count], new int[count], new float[count], new float[count]);
            (Rel0, Rel1, WindowStart) = (new int[count], new int[count], new int[count / 8]);
            for (int i = 0; i < count; i++)
            {
                (I0[i], I1[i]) = (taps.Index[2 * i], taps.Index[2 * i + 1]);
                (W0[i], W1[i]) = (taps.Weight[2 * i], taps.Weight[2 * i + 1]);
            }
            for (int block = 0; block < count / 8; block++)
            {
                int x = 8 * block, start = int.MaxValue, end = -1;
                for (int j = x; j < x + 8; j++)
                {
                    start = Math.Min(start, Math.Min(I0[j], I1[j]));
                    end = Math.Max(end, Math.Max(I0[j], I1[j]));
                }
                bool fits = end - start < 8 && start + 8 <= inputLength;
                WindowStart[block] = fits ? start : -1;
                for (int j = x; j < x + 8; j++) (Rel0[j], Rel1[j]) = fits ? (I0[j] - start, I1[j] - start) : (0, 0);
            }
        }
    }

    /// <summary>
    /// Two cached rows of a stage. Rows are requested in pairs (i0, i1) that never move backwards, so the
    /// slot to reuse is the one not holding the pair's other row.
    /// </summary>
    private sealed class RowWindow
    {
        private readonly float[] _rows;
        private readonly int _width;
        private int _key0 = -1, _key1 = -1;

        public RowWindow(int width)
        {
            _width = width;
            _rows = GC.AllocateUninitializedArray<float>(2 * width, pinned: true);
        }

        public void Clear() => (_key0, _key1) = (-1, -1);

        public float* Get(int key, int keep, out bool hit)
        {
            float* first = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_rows));
            if (_key0 == key) { hit = true; return first; }
            if (_key1 == key) { hit = true; return first + _width; }
            hit = false;
            if (_key0 != keep) { _key0 = key; return first; }
            _key1 = key;
            return first + _width;
        }
    }
}

using SegmentAnything.Imaging;

namespace SegmentAnything.AutomaticMasks;

/// <summary>
/// One post-processing worker's reusable buffers: the streaming upsampler and the packed mask, so that
/// a candidate costs no allocation beyond its RLE.
/// </summary>
internal sealed unsafe class MaskWorkspace
{
    private SamMaskUpsampler? _upsampler;
    private sbyte[] _classes = [];
    private readonly BlockBounds _bounds = new();

    public MaskBits Bits { get; } = new();

    /// <summary>Words of the last <see cref="AnalyzeSam"/> filled from the low-resolution bounds alone, without interpolating.</summary>
    public long DecidedWords { get; private set; }

    /// <summary>
    /// SAM's upsampling of one low-resolution mask, reduced row by row into <see cref="Bits"/>. Every
    /// upsampled value is a convex combination of the low-resolution values it depends on, so a 64-pixel
    /// word whose whole neighbourhood lies clearly on one side of each threshold is filled without
    /// interpolating; only the words near the thresholds are computed.
    /// </summary>
    public void AnalyzeSam(ReadOnlySpan<float> lowRes, int lowH, int lowW, int imgSize, (int H, int W) inputSize, (int H, int W) originalSize,
        float high, float low, bool inclusive)
    {
        if (lowRes.Length != lowH * lowW) throw new ArgumentException($"Expected {lowH}x{lowW} logits, got {lowRes.Length}.");
        var plan = SamUpsamplePlan.For(lowH, lowW, imgSize, inputSize, originalSize);
        if (_upsampler is null) _upsampler = new SamMaskUpsampler(plan);
        else _upsampler.Use(plan);
        int h = originalSize.H, blocks = plan.Blocks;
        Bits.Reset(h, originalSize.W);
        if (_classes.Length < blocks) _classes = new sbyte[blocks];
        bool skip = BlockBounds.CanBound(lowRes[..(plan.LowRowsUsed * lowW)]);
        if (skip) _bounds.Begin(plan);
        int boundFirst = -1, boundLast = -1;
        long decided = 0;
        fixed (float* l = lowRes)
        fixed (sbyte* classes = _classes)
        {
            _upsampler.Begin(l);
            for (int y = 0; y < h; y++)
            {
                if (!skip)
                {
                    _upsampler.Sources(y, 0, blocks, out float* a, out float* b, out float w0, out float w1);
                    Bits.AddBlendedRow(y, a, b, w0, w1, high, low, inclusive);
                    continue;
                }
                int r0 = plan.LowRowFirst[y], r1 = plan.LowRowLast[y];
                if (r0 != boundFirst || r1 != boundLast)
                {
                    // A mask decided nowhere in its first eighth (noise rather than regions) is not worth
                    // bounding further: the rest is interpolated, which gives the same bits anyway.
                    if (y >= h / 8 && decided == 0)
                    {
                        skip = false;
                        y--;
                        continue;
                    }
                    _bounds.Classify(l, plan, r0, r1, high, low, classes);
                    (boundFirst, boundLast) = (r0, r1);
                }
                for (int k = 0; k < blocks; k++)
                {
                    int c = classes[k];
                    if (c >= 0)
                    {
                        Bits.SetWord(y, k, (c & BlockBounds.Set) != 0, (c & BlockBounds.AboveHigh) != 0, (c & BlockBounds.AboveLow) != 0);
                        decided++;
                        continue;
                    }
                    int end = k + 1;
                    while (end < blocks && classes[end] < 0) end++;
                    _upsampler.Sources(y, k, end, out float* a, out float* b, out float w0, out float w1);
                    Bits.AddBlendedWords(y, k, end, a, b, w0, w1, high, low, inclusive);
                    k = end - 1;
                }
            }
        }
        DecidedWords = decided;
    }

    /// <summary>Full-size logits [h, w] already computed (EfficientSAM's bicubic upsampling), reduced into <see cref="Bits"/>.</summary>
    public void AnalyzePlane(float[] logits, int h, int w, float high, float low, bool inclusive)
    {
        if (logits.Length != (long)h * w) throw new ArgumentException($"Logits of {logits.Length} values do not match {w}x{h}.");
        Bits.Reset(h, w);
        fixed (float* p = logits)
            for (int y = 0; y < h; y++) Bits.AddRow(y, p + (long)y * w, high, low, inclusive);
    }
}

using SegmentAnything.Imaging;

namespace SegmentAnything.AutomaticMasks;

/// <summary>
/// One post-processing worker's reusable buffers: the streaming upsampler and the packed mask, so that
/// a candidate costs no allocation beyond its RLE.
/// </summary>
internal sealed unsafe class MaskWorkspace
{
    private SamMaskUpsampler? _upsampler;

    public MaskBits Bits { get; } = new();

    /// <summary>SAM's upsampling of one low-resolution mask, reduced row by row into <see cref="Bits"/>.</summary>
    public void AnalyzeSam(ReadOnlySpan<float> lowRes, int lowH, int lowW, int imgSize, (int H, int W) inputSize, (int H, int W) originalSize,
        float high, float low, bool inclusive)
    {
        if (lowRes.Length != lowH * lowW) throw new ArgumentException($"Expected {lowH}x{lowW} logits, got {lowRes.Length}.");
        var plan = SamUpsamplePlan.For(lowH, lowW, imgSize, inputSize, originalSize);
        if (_upsampler is null) _upsampler = new SamMaskUpsampler(plan);
        else _upsampler.Use(plan);
        int h = originalSize.H;
        Bits.Reset(h, originalSize.W);
        fixed (float* l = lowRes)
        {
            _upsampler.Begin(l);
            for (int y = 0; y < h; y++)
            {
                _upsampler.Sources(y, out float* a, out float* b, out float w0, out float w1);
                Bits.AddBlendedRow(y, a, b, w0, w1, high, low, inclusive);
            }
        }
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

namespace SegmentAnything.AutomaticMasks;

/// <summary>
/// One post-processing worker's reusable buffers: the streaming upsampler and the packed mask, so that
/// a candidate costs no allocation beyond its RLE.
/// </summary>
internal sealed unsafe class MaskWorkspace
{
    private SamMaskUpsampler? _upsampler;
    private float[] _row = [];

    public MaskBits Bits { get; } = new();

    /// <summary>SAM's upsampling of one low-resolution mask, reduced row by row into <see cref="Bits"/>.</summary>
    public void AnalyzeSam(ReadOnlySpan<float> lowRes, int lowH, int lowW, int imgSize, (int H, int W) inputSize, (int H, int W) originalSize,
        float high, float low, bool inclusive)
    {
        if (_upsampler is null || !_upsampler.Matches(lowH, lowW, inputSize, originalSize))
            _upsampler = new SamMaskUpsampler(lowH, lowW, imgSize, inputSize, originalSize);
        _upsampler.Begin(lowRes);
        int h = originalSize.H, w = originalSize.W;
        if (_row.Length < w) _row = GC.AllocateUninitializedArray<float>(w, pinned: true);
        Bits.Reset(h, w);
        fixed (float* row = _row)
            for (int y = 0; y < h; y++)
            {
                _upsampler.Row(y, row);
                Bits.AddRow(y, row, high, low, inclusive);
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

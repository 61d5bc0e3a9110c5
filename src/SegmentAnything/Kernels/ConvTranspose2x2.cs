namespace SegmentAnything.Kernels;

/// <summary>
/// nn.ConvTranspose2d with kernel 2 and stride 2 (the decoder's upscaling): every input pixel
/// expands into a 2x2 output patch, so the layer is one matrix product followed by a scatter.
/// </summary>
public sealed class ConvTranspose2x2
{
    public int InChannels { get; }
    public int OutChannels { get; }
    private readonly float[] _weightRows; // [(out, dy, dx), in]
    private readonly float[] _bias;

    /// <param name="weight">PyTorch layout [in, out, 2, 2].</param>
    public ConvTranspose2x2(float[] weight, float[] bias, int inChannels, int outChannels)
    {
        if (weight.Length != inChannels * outChannels * 4 || bias.Length != outChannels) throw new ArgumentException("ConvTranspose2d parameters have the wrong size.");
        (InChannels, OutChannels, _bias) = (inChannels, outChannels, bias);
        _weightRows = new float[weight.Length];
        for (int i = 0; i < inChannels; i++)
            for (int r = 0; r < outChannels * 4; r++) _weightRows[r * inChannels + i] = weight[i * outChannels * 4 + r];
    }

    /// <summary>[in, h, w] to [out, 2h, 2w].</summary>
    public float[] Forward(ReadOnlySpan<float> input, int h, int w)
    {
        int hw = h * w, ow = 2 * w;
        var tmp = new float[OutChannels * 4 * hw];
        Gemm.MatMul(_weightRows, input, tmp, OutChannels * 4, InChannels, hw);
        var output = new float[OutChannels * 4 * hw];
        for (int o = 0; o < OutChannels; o++)
        {
            float b = _bias[o];
            for (int d = 0; d < 4; d++)
            {
                int dy = d >> 1, dx = d & 1;
                ReadOnlySpan<float> src = tmp.AsSpan((o * 4 + d) * hw, hw);
                Span<float> plane = output.AsSpan(o * 4 * hw, 4 * hw);
                for (int y = 0; y < h; y++)
                {
                    int rowBase = (2 * y + dy) * ow + dx;
                    ReadOnlySpan<float> srow = src.Slice(y * w, w);
                    for (int x = 0; x < w; x++) plane[rowBase + 2 * x] = srow[x] + b;
                }
            }
        }
        return output;
    }
}

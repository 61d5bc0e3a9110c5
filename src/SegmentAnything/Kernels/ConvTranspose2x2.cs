using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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

    /// <summary>dst[2x] = even[x] + bias, dst[2x + 1] = odd[x] + bias.</summary>
    private static unsafe void Interleave(ReadOnlySpan<float> even, ReadOnlySpan<float> odd, float bias, Span<float> dst)
    {
        int n = even.Length, x = 0;
        fixed (float* e = even, d = odd, o = dst)
        {
            if (Avx.IsSupported)
            {
                var b = Vector256.Create(bias);
                for (; x <= n - 8; x += 8)
                {
                    var a = Avx.Add(Avx.LoadVector256(e + x), b);
                    var c = Avx.Add(Avx.LoadVector256(d + x), b);
                    var lo = Avx.UnpackLow(a, c);  // a0 c0 a1 c1 | a4 c4 a5 c5
                    var hi = Avx.UnpackHigh(a, c); // a2 c2 a3 c3 | a6 c6 a7 c7
                    Avx.Store(o + 2 * x, Avx.Permute2x128(lo, hi, 0x20));
                    Avx.Store(o + 2 * x + 8, Avx.Permute2x128(lo, hi, 0x31));
                }
            }
            for (; x < n; x++)
            {
                o[2 * x] = e[x] + bias;
                o[2 * x + 1] = d[x] + bias;
            }
        }
    }

    /// <summary>[in, h, w] to [out, 2h, 2w].</summary>
    public float[] Forward(ReadOnlySpan<float> input, int h, int w) => Forward(input, h, w, tokenMajor: false);

    /// <summary>
    /// To [out, 2h, 2w] from [in, h, w], or with <paramref name="tokenMajor"/> from [h·w, in] (a
    /// transformer's tokens), read transposed by the product instead of copied.
    /// </summary>
    public float[] Forward(ReadOnlySpan<float> input, int h, int w, bool tokenMajor)
    {
        // Both buffers are overwritten whole: skipping the zeroing saves a pass over megabytes per call.
        var output = GC.AllocateUninitializedArray<float>(OutChannels * 4 * h * w);
        Forward(input, h, w, tokenMajor, output, GC.AllocateUninitializedArray<float>(OutChannels * 4 * h * w));
        return output;
    }

    /// <summary>
    /// <see cref="Forward(ReadOnlySpan{float}, int, int, bool)"/> into caller-owned <paramref name="output"/> using
    /// <paramref name="scratch"/> (each at least out·4·h·w values), for callers that reuse their buffers.
    /// </summary>
    public void Forward(ReadOnlySpan<float> input, int h, int w, bool tokenMajor, float[] output, float[] scratch)
    {
        int hw = h * w, ow = 2 * w;
        if (input.Length < (long)InChannels * hw) throw new ArgumentException($"Input of {input.Length} values is smaller than {InChannels}x{h}x{w}.");
        if (output.Length < (long)OutChannels * 4 * hw || scratch.Length < (long)OutChannels * 4 * hw)
            throw new ArgumentException($"Output and scratch need {(long)OutChannels * 4 * hw} values each.");
        var tmp = scratch;
        Gemm.MatMul(OutChannels * 4, hw, InChannels, _weightRows, InChannels, false, input, tokenMajor ? InChannels : hw, tokenMajor, tmp, hw);
        // Output row 2y+dy interleaves the dx = 0 and dx = 1 product rows: a vector zip per 8 pixels.
        KernelParallel.ForRanges(OutChannels * 2, 8, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int o = r >> 1, dy = r & 1;
                ReadOnlySpan<float> even = tmp.AsSpan((o * 4 + 2 * dy) * hw, hw), odd = tmp.AsSpan((o * 4 + 2 * dy + 1) * hw, hw);
                Span<float> plane = output.AsSpan(o * 4 * hw, 4 * hw);
                for (int y = 0; y < h; y++)
                    Interleave(even.Slice(y * w, w), odd.Slice(y * w, w), _bias[o], plane.Slice((2 * y + dy) * ow, ow));
            }
        });
    }
}

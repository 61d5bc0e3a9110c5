using System.Numerics;
using System.Runtime.InteropServices;

namespace SegmentAnything.Modeling;

/// <summary>
/// <c>F.interpolate(mode="bicubic", align_corners=False)</c> as PyTorch computes it on the CPU:
/// cubic convolution with A = −0.75, source index <c>scale·(i + ½) − ½</c> in float, border taps
/// clamped, no antialiasing and no clamping of the result. PyTorch sums the four width taps of
/// each of the four rows and then the rows, which is exactly a horizontal pass followed by a
/// vertical one; the vertical pass is vectorised across the output row.
/// </summary>
internal static class EfficientSamBicubic
{
    private const float A = -0.75f;

    /// <param name="input">[planes, inH, inW].</param>
    /// <returns>[planes, outH, outW].</returns>
    public static float[] Resize(ReadOnlySpan<float> input, int planes, int inH, int inW, int outH, int outW)
    {
        if (planes < 0 || inH <= 0 || inW <= 0 || outH <= 0 || outW <= 0)
            throw new ArgumentException("Bicubic resize needs positive sizes.");
        if (input.Length != (long)planes * inH * inW) throw new ArgumentException("Bicubic input has the wrong size.");
        var output = new float[checked(planes * outH * outW)];
        var (xIndex, xWeight) = Taps(inW, outW);
        var (yIndex, yWeight) = Taps(inH, outH);
        float[] source = input.ToArray();
        Parallel.For(0, planes, p =>
        {
            ReadOnlySpan<float> src = source.AsSpan(p * inH * inW, inH * inW);
            var rows = new float[inH * outW];
            for (int r = 0; r < inH; r++)
            {
                ReadOnlySpan<float> srcRow = src.Slice(r * inW, inW);
                Span<float> dst = rows.AsSpan(r * outW, outW);
                for (int x = 0; x < outW; x++)
                {
                    int t = 4 * x;
                    float acc = srcRow[xIndex[t]] * xWeight[t];
                    acc += srcRow[xIndex[t + 1]] * xWeight[t + 1];
                    acc += srcRow[xIndex[t + 2]] * xWeight[t + 2];
                    acc += srcRow[xIndex[t + 3]] * xWeight[t + 3];
                    dst[x] = acc;
                }
            }
            Span<float> plane = output.AsSpan(p * outH * outW, outH * outW);
            for (int y = 0; y < outH; y++)
            {
                int t = 4 * y;
                CombineRows(plane.Slice(y * outW, outW),
                    rows.AsSpan(yIndex[t] * outW, outW), yWeight[t],
                    rows.AsSpan(yIndex[t + 1] * outW, outW), yWeight[t + 1],
                    rows.AsSpan(yIndex[t + 2] * outW, outW), yWeight[t + 2],
                    rows.AsSpan(yIndex[t + 3] * outW, outW), yWeight[t + 3]);
            }
        });
        return output;
    }

    private static void CombineRows(Span<float> dst, ReadOnlySpan<float> r0, float w0, ReadOnlySpan<float> r1, float w1,
        ReadOnlySpan<float> r2, float w2, ReadOnlySpan<float> r3, float w3)
    {
        var vd = MemoryMarshal.Cast<float, Vector<float>>(dst);
        var v0 = MemoryMarshal.Cast<float, Vector<float>>(r0);
        var v1 = MemoryMarshal.Cast<float, Vector<float>>(r1);
        var v2 = MemoryMarshal.Cast<float, Vector<float>>(r2);
        var v3 = MemoryMarshal.Cast<float, Vector<float>>(r3);
        Vector<float> c0 = new(w0), c1 = new(w1), c2 = new(w2), c3 = new(w3);
        for (int i = 0; i < vd.Length; i++)
        {
            var acc = v0[i] * c0;
            acc += v1[i] * c1;
            acc += v2[i] * c2;
            acc += v3[i] * c3;
            vd[i] = acc;
        }
        for (int i = vd.Length * Vector<float>.Count; i < dst.Length; i++)
        {
            float acc = r0[i] * w0;
            acc += r1[i] * w1;
            acc += r2[i] * w2;
            acc += r3[i] * w3;
            dst[i] = acc;
        }
    }

    /// <summary>The four clamped source indices and cubic weights of every output index.</summary>
    internal static (int[] Index, float[] Weight) Taps(int inSize, int outSize)
    {
        var index = new int[4 * outSize];
        var weight = new float[4 * outSize];
        float scale = (float)inSize / outSize;
        for (int i = 0; i < outSize; i++)
        {
            float real = scale * (i + 0.5f) - 0.5f;
            float floor = MathF.Floor(real);
            float t = real - floor;
            int start = (int)floor;
            weight[4 * i] = Far(t + 1f);
            weight[4 * i + 1] = Near(t);
            weight[4 * i + 2] = Near(1f - t);
            weight[4 * i + 3] = Far(1f - t + 1f);
            for (int k = 0; k < 4; k++) index[4 * i + k] = Math.Clamp(start - 1 + k, 0, inSize - 1);
        }
        return (index, weight);
    }

    private static float Near(float x) => ((A + 2f) * x - (A + 3f)) * x * x + 1f;

    private static float Far(float x) => ((A * x - 5f * A) * x + 8f * A) * x - 4f * A;
}

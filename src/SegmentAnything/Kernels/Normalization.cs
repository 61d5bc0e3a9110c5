namespace SegmentAnything.Kernels;

public static class Normalization
{
    /// <summary>LayerNorm over the last dimension of [rows, dim], in place (biased variance, as PyTorch).</summary>
    public static void LayerNorm(Span<float> x, int rows, int dim, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps)
    {
        for (int r = 0; r < rows; r++)
        {
            Span<float> row = x.Slice(r * dim, dim);
            double mean = 0;
            for (int i = 0; i < dim; i++) mean += row[i];
            mean /= dim;
            double var = 0;
            for (int i = 0; i < dim; i++) { double d = row[i] - mean; var += d * d; }
            var /= dim;
            float inv = (float)(1.0 / Math.Sqrt(var + eps));
            float m = (float)mean;
            for (int i = 0; i < dim; i++) row[i] = (row[i] - m) * inv * weight[i] + bias[i];
        }
    }

    /// <summary>SAM's LayerNorm2d: normalise each pixel over channels of a [C, H·W] map, in place.</summary>
    public static void LayerNorm2d(Span<float> x, int channels, int pixels, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps)
    {
        var mean = new double[pixels];
        var var = new double[pixels];
        for (int c = 0; c < channels; c++)
        {
            ReadOnlySpan<float> plane = x.Slice(c * pixels, pixels);
            for (int p = 0; p < pixels; p++) mean[p] += plane[p];
        }
        for (int p = 0; p < pixels; p++) mean[p] /= channels;
        for (int c = 0; c < channels; c++)
        {
            ReadOnlySpan<float> plane = x.Slice(c * pixels, pixels);
            for (int p = 0; p < pixels; p++) { double d = plane[p] - mean[p]; var[p] += d * d; }
        }
        var inv = new float[pixels];
        for (int p = 0; p < pixels; p++) inv[p] = (float)(1.0 / Math.Sqrt(var[p] / channels + eps));
        for (int c = 0; c < channels; c++)
        {
            Span<float> plane = x.Slice(c * pixels, pixels);
            float w = weight[c], b = bias[c];
            for (int p = 0; p < pixels; p++) plane[p] = (plane[p] - (float)mean[p]) * inv[p] * w + b;
        }
    }

    /// <summary>Softmax over each row of [rows, cols], in place.</summary>
    public static void Softmax(Span<float> x, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            Span<float> row = x.Slice(r * cols, cols);
            float max = float.NegativeInfinity;
            for (int i = 0; i < cols; i++) if (row[i] > max) max = row[i];
            float sum = 0;
            for (int i = 0; i < cols; i++) { row[i] = MathF.Exp(row[i] - max); sum += row[i]; }
            float inv = 1f / sum;
            for (int i = 0; i < cols; i++) row[i] *= inv;
        }
    }
}

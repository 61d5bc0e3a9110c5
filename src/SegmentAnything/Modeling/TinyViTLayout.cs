using SegmentAnything.Kernels;

namespace SegmentAnything.Modeling;

/// <summary>
/// Moves TinyViT activations between the planar conv layout [C, H·W] and the token layout [H·W, C].
/// Blocked so both sides stay cache friendly; parallel over blocks of the source rows.
/// </summary>
internal static class TinyViTLayout
{
    private const int Block = 32;

    /// <summary>dst[c, r] = src[r, c] for src of shape [rows, cols].</summary>
    public static float[] Transpose(float[] src, int rows, int cols)
    {
        var dst = new float[src.Length];
        Transpose(src, dst, rows, cols);
        return dst;
    }

    public static void Transpose(float[] src, float[] dst, int rows, int cols)
    {
        if (src.Length < (long)rows * cols || dst.Length < (long)rows * cols)
            throw new ArgumentException("Transpose buffers are too small.");
        int rowBlocks = (rows + Block - 1) / Block;
        KernelParallel.For(rowBlocks, KernelParallel.MaxThreads, rb =>
        {
            int r0 = rb * Block, r1 = Math.Min(rows, r0 + Block);
            for (int c0 = 0; c0 < cols; c0 += Block)
            {
                int c1 = Math.Min(cols, c0 + Block);
                for (int r = r0; r < r1; r++)
                {
                    int srcRow = r * cols;
                    for (int c = c0; c < c1; c++) dst[c * rows + r] = src[srcRow + c];
                }
            }
        });
    }
}

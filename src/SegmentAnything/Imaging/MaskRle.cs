using System.Text;

namespace SegmentAnything.Imaging;

/// <summary>A COCO run-length encoding: runs over the column-major mask, alternating 0s and 1s, 0s first.</summary>
public sealed record CocoRle(int Height, int Width, int[] Counts)
{
    /// <summary>Pixels set: the sum of the odd runs (amg's <c>area_from_rle</c>).</summary>
    public long Area
    {
        get
        {
            long area = 0;
            for (int i = 1; i < Counts.Length; i += 2) area += Counts[i];
            return area;
        }
    }
}

/// <summary>
/// COCO RLE as pycocotools and SAM's <c>mask_to_rle_pytorch</c> write it, and pycocotools' compact string
/// form of the counts (<c>rleToString</c> / <c>rleFrString</c>).
/// </summary>
public static class MaskRle
{
    /// <summary>Encodes a row-major [h, w] mask; the first run counts zeros and may be empty.</summary>
    public static CocoRle ToCocoRle(ReadOnlySpan<bool> mask, int height, int width)
    {
        if (height <= 0 || width <= 0 || (long)height * width != mask.Length)
            throw new ArgumentException($"Mask of {mask.Length} values does not match {width}x{height}.");
        var counts = new List<int>();
        bool current = false;
        int run = 0;
        for (int x = 0; x < width; x++)
        {
            for (int i = x; i < mask.Length; i += width)
            {
                if (mask[i] != current)
                {
                    counts.Add(run);
                    run = 0;
                    current = !current;
                }
                run++;
            }
        }
        counts.Add(run);
        return new CocoRle(height, width, counts.ToArray());
    }

    /// <summary>The row-major [h, w] mask an RLE describes.</summary>
    public static bool[] Decode(CocoRle rle)
    {
        ArgumentNullException.ThrowIfNull(rle);
        int h = rle.Height, w = rle.Width;
        if (h <= 0 || w <= 0 || (long)h * w > Array.MaxLength) throw new FormatException($"Invalid RLE size {w}x{h}.");
        long total = 0;
        foreach (int c in rle.Counts)
        {
            if (c < 0) throw new FormatException("RLE counts must not be negative.");
            total += c;
        }
        if (total != (long)h * w) throw new FormatException($"RLE counts sum to {total}, not {h}x{w} = {(long)h * w}.");
        var mask = new bool[h * w];
        int idx = 0;
        bool value = false;
        foreach (int c in rle.Counts)
        {
            if (value)
            {
                for (int k = idx; k < idx + c; k++) mask[(k % h) * w + k / h] = true;
            }
            idx += c;
            value = !value;
        }
        return mask;
    }

    /// <summary>
    /// pycocotools' <c>rleToString</c>: each count (from the fourth on, minus the count two before it) as
    /// little-endian 5-bit groups with a continuation bit, sign-extended from the last group's top bit,
    /// one ASCII character (48 + group) per group.
    /// </summary>
    public static string CountsToString(ReadOnlySpan<int> counts)
    {
        var sb = new StringBuilder(counts.Length * 2);
        for (int i = 0; i < counts.Length; i++)
        {
            long x = counts[i];
            if (i > 2) x -= counts[i - 2];
            bool more = true;
            while (more)
            {
                int c = (int)(x & 0x1f);
                x >>= 5;
                more = (c & 0x10) != 0 ? x != -1 : x != 0;
                if (more) c |= 0x20;
                sb.Append((char)(c + 48));
            }
        }
        return sb.ToString();
    }

    /// <summary>pycocotools' <c>rleFrString</c>.</summary>
    public static int[] CountsFromString(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var counts = new List<int>();
        int p = 0;
        while (p < s.Length)
        {
            long x = 0;
            int k = 0;
            bool more = true;
            while (more)
            {
                if (p >= s.Length) throw new FormatException("RLE string ends inside a count.");
                int c = s[p] - 48;
                if (c is < 0 or > 63) throw new FormatException($"Invalid RLE character '{s[p]}' at {p}.");
                if (k > 12) throw new FormatException("RLE count too long.");
                x |= (long)(c & 0x1f) << (5 * k);
                more = (c & 0x20) != 0;
                p++;
                k++;
                if (!more && (c & 0x10) != 0) x |= -1L << (5 * k);
            }
            if (counts.Count > 2) x += counts[^2];
            if (x is < 0 or > int.MaxValue) throw new FormatException($"RLE count {x} out of range.");
            counts.Add((int)x);
        }
        return counts.ToArray();
    }
}

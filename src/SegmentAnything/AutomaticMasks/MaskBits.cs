using System.Numerics;
using System.Runtime.Intrinsics;
using SegmentAnything.Imaging;

namespace SegmentAnything.AutomaticMasks;

/// <summary>
/// One candidate mask reduced row by row from its full-size logits: the thresholded mask as packed bits
/// (64 columns a word), and the two counts of the stability score. From the bits come the bounding box
/// and the COCO RLE of the uncropped mask, the RLE built from the pixels where a column changes value
/// (found by XOR of consecutive rows) rather than by walking the mask column by column. Reusable: one
/// per worker, reset per mask.
/// </summary>
internal sealed unsafe class MaskBits
{
    private ulong[] _bits = [];
    private int _height, _width, _words;
    private int[] _xs = new int[1024], _ys = new int[1024], _columnStart = [], _fill = [], _sorted = new int[1024];
    private int _transitions;

    /// <summary>Logits above the stability score's high / low threshold.</summary>
    public long High { get; private set; }
    public long Low { get; private set; }

    public void Reset(int height, int width)
    {
        (_height, _width, _words) = (height, width, (width + 63) / 64);
        long need = (long)height * _words;
        if (_bits.Length < need) _bits = new ulong[need];
        High = Low = 0;
    }

    /// <summary>
    /// Row <paramref name="y"/> of logits: counts values &gt; <paramref name="high"/> and &gt;
    /// <paramref name="low"/>, sets the mask where the value is &gt; 0 (≥ 0 when inclusive).
    /// </summary>
    public void AddRow(int y, float* row, float high, float low, bool inclusive)
    {
        var bits = _bits.AsSpan(y * _words, _words);
        bits.Clear();
        long hi = 0, lo = 0;
        int w = _width, x = 0;
        fixed (ulong* b = bits)
        {
            byte* bytes = (byte*)b;
            var vh = Vector256.Create(high);
            var vl = Vector256.Create(low);
            for (; x <= w - 8; x += 8)
            {
                var v = Vector256.Load(row + x);
                hi += BitOperations.PopCount(Vector256.GreaterThan(v, vh).ExtractMostSignificantBits());
                lo += BitOperations.PopCount(Vector256.GreaterThan(v, vl).ExtractMostSignificantBits());
                var set = inclusive ? Vector256.GreaterThanOrEqual(v, Vector256<float>.Zero) : Vector256.GreaterThan(v, Vector256<float>.Zero);
                // Little-endian words: byte x/8 holds columns x..x+7, lowest bit first.
                bytes[x >> 3] = (byte)set.ExtractMostSignificantBits();
            }
            for (; x < w; x++)
            {
                float v = row[x];
                if (v > high) hi++;
                if (v > low) lo++;
                if (inclusive ? v >= 0f : v > 0f) b[x >> 6] |= 1UL << (x & 63);
            }
        }
        High += hi;
        Low += lo;
    }

    /// <summary>amg's <c>calculate_stability_score</c> from the counts.</summary>
    public float StabilityScore => (float)High / Low;

    /// <summary>amg's <c>batched_mask_to_box</c>: inclusive (x0, y0, x1, y1), all zero for an empty mask.</summary>
    public BoxXyxy Box()
    {
        int x0 = int.MaxValue, x1 = -1, y0 = -1, y1 = -1;
        for (int y = 0; y < _height; y++)
        {
            var row = _bits.AsSpan(y * _words, _words);
            int first = row.IndexOfAnyExcept(0UL);
            if (first < 0) continue;
            int last = row.LastIndexOfAnyExcept(0UL);
            if (y0 < 0) y0 = y;
            y1 = y;
            x0 = Math.Min(x0, first * 64 + BitOperations.TrailingZeroCount(row[first]));
            x1 = Math.Max(x1, last * 64 + 63 - BitOperations.LeadingZeroCount(row[last]));
        }
        return y1 < 0 ? new BoxXyxy(0, 0, 0, 0) : new BoxXyxy(x0, y0, x1, y1);
    }

    /// <summary>
    /// The COCO RLE (column-major runs, zeros first) of the mask placed at <paramref name="crop"/> in an
    /// image of <paramref name="imageH"/> × <paramref name="imageW"/> zeros, as
    /// <c>mask_to_rle_pytorch(uncrop_masks(mask))</c>.
    /// </summary>
    public CocoRle ToCocoRle(BoxXyxy crop, int imageH, int imageW)
    {
        int h = _height, w = _width;
        if (crop.Width != w || crop.Height != h || crop.X0 < 0 || crop.Y0 < 0 || crop.X1 > imageW || crop.Y1 > imageH)
            throw new ArgumentException($"Crop {crop} does not hold a {w}x{h} mask inside {imageW}x{imageH}.");
        // Changes down each column, from an implicit unset row above the crop; row h (below the crop)
        // only exists in the image when the crop does not reach its bottom.
        _transitions = 0;
        int rows = crop.Y1 < imageH ? h + 1 : h;
        for (int y = 0; y < rows; y++)
        {
            for (int k = 0; k < _words; k++)
            {
                ulong cur = y < h ? _bits[y * _words + k] : 0UL, prev = y > 0 ? _bits[(y - 1) * _words + k] : 0UL;
                for (ulong d = cur ^ prev; d != 0; d &= d - 1) Add(k * 64 + BitOperations.TrailingZeroCount(d), y);
            }
        }
        // Counting sort by column, rows staying in increasing order.
        if (_columnStart.Length < w + 1) (_columnStart, _fill) = (new int[w + 1], new int[w + 1]);
        var start = _columnStart.AsSpan(0, w + 1);
        start.Clear();
        for (int i = 0; i < _transitions; i++) start[_xs[i] + 1]++;
        for (int x = 0; x < w; x++) start[x + 1] += start[x];
        if (_sorted.Length < _transitions) _sorted = new int[_xs.Length];
        var fill = _fill.AsSpan(0, w);
        start[..w].CopyTo(fill);
        for (int i = 0; i < _transitions; i++) _sorted[fill[_xs[i]]++] = _ys[i];

        // Column-major positions where the value changes; the first pixel of a column is compared with
        // the last pixel of the previous column, which is set only when the crop reaches the image bottom.
        var counts = new List<int>(_transitions + 2);
        long previous = 0;
        bool lastSet = false;
        int end = w + (crop.X1 < imageW ? 1 : 0);
        for (int x = 0; x < end; x++)
        {
            long column = (long)(crop.X0 + x) * imageH;
            int from = x < w ? start[x] : 0, to = x < w ? start[x + 1] : 0;
            bool startsSet = crop.Y0 == 0 && from < to && _sorted[from] == 0;
            if (lastSet != startsSet)
            {
                counts.Add((int)(column - previous));
                previous = column;
            }
            for (int i = startsSet ? from + 1 : from; i < to; i++)
            {
                long p = column + crop.Y0 + _sorted[i];
                counts.Add((int)(p - previous));
                previous = p;
            }
            // A column ends set when it changed an odd number of times (and the crop reaches the bottom).
            lastSet = ((to - from) & 1) == 1;
        }
        counts.Add((int)((long)imageH * imageW - previous));
        return new CocoRle(imageH, imageW, counts.ToArray());
    }

    private void Add(int x, int y)
    {
        if (_transitions == _xs.Length)
        {
            Array.Resize(ref _xs, _xs.Length * 2);
            Array.Resize(ref _ys, _ys.Length * 2);
        }
        _xs[_transitions] = x;
        _ys[_transitions++] = y;
    }
}

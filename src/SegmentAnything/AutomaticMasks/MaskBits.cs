using System.Runtime.CompilerServices;
using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
    private ulong[] _columns = [];
    private int[] _positions = [];

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
        if (inclusive) Reduce<Plain, Inclusive>(y, row, row, 0f, 0f, 0, _width, high, low);
        else Reduce<Plain, Strict>(y, row, row, 0f, 0f, 0, _width, high, low);
    }

    /// <summary>
    /// <see cref="AddRow"/> of the row <c>a·w0 + b·w1</c> (one fused multiply-add per value, as the
    /// upsampler's last vertical pass), computed in registers and never stored.
    /// </summary>
    public void AddBlendedRow(int y, float* a, float* b, float w0, float w1, float high, float low, bool inclusive) =>
        AddBlendedWords(y, 0, _words, a, b, w0, w1, high, low, inclusive);

    /// <summary><see cref="AddBlendedRow"/> over the columns of words [<paramref name="k0"/>, <paramref name="k1"/>) only.</summary>
    public void AddBlendedWords(int y, int k0, int k1, float* a, float* b, float w0, float w1, float high, float low, bool inclusive)
    {
        if (inclusive) Reduce<Blended, Inclusive>(y, a, b, w0, w1, 64 * k0, Math.Min(_width, 64 * k1), high, low);
        else Reduce<Blended, Strict>(y, a, b, w0, w1, 64 * k0, Math.Min(_width, 64 * k1), high, low);
    }

    /// <summary>
    /// Word <paramref name="k"/> of row <paramref name="y"/> whose values are all known to lie on one side
    /// of each threshold: the mask set or not, and each of the word's pixels counted above high / low or not.
    /// </summary>
    public void SetWord(int y, int k, bool set, bool aboveHigh, bool aboveLow)
    {
        int n = Math.Min(64, _width - 64 * k);
        _bits[y * _words + k] = set ? ulong.MaxValue >> (64 - n) : 0UL;
        if (aboveHigh) High += n;
        if (aboveLow) Low += n;
    }

    // Type arguments select the variant at JIT time, so the inner loops carry no per-value branches.
    private interface IRowSource { }
    private struct Plain : IRowSource { }
    private struct Blended : IRowSource { }
    private interface IMaskTest { }
    private struct Strict : IMaskTest { }
    private struct Inclusive : IMaskTest { }

    /// <summary>Columns [x, w) of row y; x a multiple of 64.</summary>
    private void Reduce<TSource, TMask>(int y, float* a, float* b, float w0, float w1, int x, int w, float high, float low)
        where TSource : struct, IRowSource where TMask : struct, IMaskTest
    {
        var bits = _bits.AsSpan(y * _words, _words);
        bits[(x >> 6)..((w + 63) >> 6)].Clear();
        long hi = 0, lo = 0;
        fixed (ulong* words = bits)
        {
            if (SamUpsamplePlan.VectorBits >= 512) x = Reduce512<TSource, TMask>(a, b, (ushort*)words, x, w, w0, w1, high, low, ref hi, ref lo);
            if (SamUpsamplePlan.VectorBits >= 256)
            {
                byte* bytes = (byte*)words;
                var vh = Vector256.Create(high);
                var vl = Vector256.Create(low);
                var v0 = Vector256.Create(w0);
                var v1 = Vector256.Create(w1);
                for (; x <= w - 8; x += 8)
                {
                    var v = typeof(TSource) == typeof(Blended)
                        ? Vector256.FusedMultiplyAdd(Vector256.Load(a + x), v0, Vector256.Load(b + x) * v1)
                        : Vector256.Load(a + x);
                    hi += BitOperations.PopCount(Vector256.GreaterThan(v, vh).ExtractMostSignificantBits());
                    lo += BitOperations.PopCount(Vector256.GreaterThan(v, vl).ExtractMostSignificantBits());
                    var set = typeof(TMask) == typeof(Inclusive) ? Vector256.GreaterThanOrEqual(v, Vector256<float>.Zero) : Vector256.GreaterThan(v, Vector256<float>.Zero);
                    bytes[x >> 3] = (byte)set.ExtractMostSignificantBits();
                }
            }
            for (; x < w; x++)
            {
                float v = typeof(TSource) == typeof(Blended) ? MathF.FusedMultiplyAdd(a[x], w0, b[x] * w1) : a[x];
                if (v > high) hi++;
                if (v > low) lo++;
                if (typeof(TMask) == typeof(Inclusive) ? v >= 0f : v > 0f) words[x >> 6] |= 1UL << (x & 63);
            }
        }
        High += hi;
        Low += lo;
    }

    /// <summary>
    /// The 512-bit part of <see cref="Reduce"/>, kept out of line so that its loop runs in registers: the
    /// counts accumulate per lane (a compare's all-ones lanes subtracted) and are summed once per call.
    /// Returns the first column left for narrower vectors.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Reduce512<TSource, TMask>(float* a, float* b, ushort* units, int x, int w, float w0, float w1, float high, float low, ref long hi, ref long lo)
        where TSource : struct, IRowSource where TMask : struct, IMaskTest
    {
        // Little-endian words: 16-bit unit x/16 holds columns x..x+15, lowest bit first.
        var vh = Vector512.Create(high);
        var vl = Vector512.Create(low);
        var v0 = Vector512.Create(w0);
        var v1 = Vector512.Create(w1);
        Vector512<int> countHigh = default, countLow = default;
        for (; x <= w - 16; x += 16)
        {
            var v = typeof(TSource) == typeof(Blended)
                ? Vector512.FusedMultiplyAdd(Vector512.Load(a + x), v0, Vector512.Load(b + x) * v1)
                : Vector512.Load(a + x);
            countHigh -= Vector512.GreaterThan(v, vh).AsInt32();
            countLow -= Vector512.GreaterThan(v, vl).AsInt32();
            var set = typeof(TMask) == typeof(Inclusive) ? Vector512.GreaterThanOrEqual(v, Vector512<float>.Zero) : Vector512.GreaterThan(v, Vector512<float>.Zero);
            units[x >> 4] = (ushort)set.ExtractMostSignificantBits();
        }
        hi += Vector512.Sum(countHigh);
        lo += Vector512.Sum(countLow);
        return x;
    }

    /// <summary>amg's <c>calculate_stability_score</c> from the counts.</summary>
    public float StabilityScore => (float)High / Low;

    /// <summary>Pixels set: amg's <c>area_from_rle</c> of the mask's RLE, counted from the bits (bits past the width are clear).</summary>
    public long Area()
    {
        long area = 0;
        foreach (ulong word in _bits.AsSpan(0, _height * _words)) area += BitOperations.PopCount(word);
        return area;
    }

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
    /// <c>mask_to_rle_pytorch(uncrop_masks(mask))</c>. Sixty-four columns at a time, the bits are
    /// transposed to columns (64×64 blocks) so that the changes come out in column-major order, one shift
    /// and XOR per 64 pixels. The changes' image positions are collected in a reused buffer (sixteen at a
    /// time by a vector compress) and differenced into counts allocated once at their exact length.
    /// </summary>
    public CocoRle ToCocoRle(BoxXyxy crop, int imageH, int imageW)
    {
        int h = _height, w = _width;
        if (crop.Width != w || crop.Height != h || crop.X0 < 0 || crop.Y0 < 0 || crop.X1 > imageW || crop.Y1 > imageH)
            throw new ArgumentException($"Crop {crop} does not hold a {w}x{h} mask inside {imageW}x{imageH}.");
        long total = (long)imageH * imageW;
        // Positions are ints with room for the vector stores' overhang.
        if (total > int.MaxValue - 256) throw new InvalidOperationException($"A {imageW}x{imageH} image is too large for an RLE of int counts.");
        int cw = (h + 63) / 64;
        if (_columns.Length < 64L * cw) _columns = new ulong[64L * cw];
        bool topInside = crop.Y0 == 0, bottomInside = crop.Y1 == imageH, vector = SamUpsamplePlan.VectorBits >= 512 && CanCompressBytes;
        ulong lastMask = (h & 63) == 0 ? ulong.MaxValue : (1UL << (h & 63)) - 1;
        int n = 0;
        bool lastSet = false;
        for (int k = 0; k < _words; k++)
        {
            int nx = Math.Min(64, w - 64 * k);
            TransposeColumns(k, cw);
            // A column adds at most h changes and one at each end; a vector store writes up to 64 past the last.
            long need = n + (long)nx * (h + 2) + 128;
            if (_positions.Length < need)
            {
                if (need > Array.MaxLength) throw new InvalidOperationException("The mask's RLE is too long for an array.");
                var grown = GC.AllocateUninitializedArray<int>((int)Math.Min(Math.Max(need, 2L * _positions.Length), Array.MaxLength));
                _positions.AsSpan(0, n).CopyTo(grown);
                _positions = grown;
            }
            fixed (ulong* columns = _columns)
            fixed (int* pos = _positions)
                for (int i = 0; i < nx; i++)
                {
                    ulong* col = columns + (long)i * cw;
                    int column = (crop.X0 + 64 * k + i) * imageH;
                    // The column's first image pixel against the previous column's last one.
                    bool first = topInside && (col[0] & 1) != 0;
                    if (first != lastSet) pos[n++] = column;
                    int origin = column + crop.Y0;
                    ulong carry = topInside ? col[0] & 1 : 0;
                    for (int j = 0; j < cw; j++)
                    {
                        ulong word = col[j];
                        ulong d = word ^ ((word << 1) | carry);
                        carry = word >> 63;
                        if (j == cw - 1) d &= lastMask;
                        if (d == 0) continue;
                        n = vector ? ChangesVector(pos, n, d, origin + 64 * j) : ChangesScalar(pos, n, d, origin + 64 * j);
                    }
                    bool endSet = ((col[(h - 1) >> 6] >> ((h - 1) & 63)) & 1) != 0;
                    if (!bottomInside && endSet) pos[n++] = origin + h;
                    lastSet = bottomInside && endSet;
                }
        }
        if (lastSet && crop.X1 < imageW) _positions[n++] = crop.X1 * imageH;
        var counts = GC.AllocateUninitializedArray<int>(n + 1);
        fixed (int* pos = _positions)
        fixed (int* c = counts)
            Differences(pos, n, (int)total, c);
        return new CocoRle(imageH, imageW, counts);
    }

    private static readonly Vector512<byte> ByteIndex = Vector512.Create(
        (byte)0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
        32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63);

    /// <summary>Per byte i: which byte of a broadcast word holds bit i (in-lane shuffle indices), and that bit within it.</summary>
    private static readonly Vector512<byte> ByteOfBit = Vector512.Create(
        (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
        4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7);
    private static readonly Vector512<byte> BitInByte = Vector512.Create(
        (byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128,
        1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);

    private static bool CanCompressBytes => Avx512Vbmi2.IsSupported && Avx512BW.IsSupported;

    /// <summary>
    /// The positions origin + i of the set bits i of <paramref name="d"/>, appended at pos[n]; writes up to
    /// 16 values past the new end. Up to sixteen bits (a column's usual share of one word) take one byte
    /// compress of the bit indices and one widening, with no branch per bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ChangesVector(int* pos, int n, ulong d, int origin)
    {
        int count = BitOperations.PopCount(d);
        if (count > 16) return ChangesScalar(pos, n, d, origin);
        var spread = Avx512BW.Shuffle(Vector512.Create(d).AsByte(), ByteOfBit);
        var selected = Vector512.Equals(spread & BitInByte, BitInByte);
        var indices = Avx512Vbmi2.Compress(Vector512<byte>.Zero, selected, ByteIndex);
        (Avx512F.ConvertToVector512Int32(indices.GetLower().GetLower()) + Vector512.Create(origin)).Store(pos + n);
        return n + count;
    }

    private static int ChangesScalar(int* pos, int n, ulong d, int origin)
    {
        for (; d != 0; d &= d - 1) pos[n++] = origin + BitOperations.TrailingZeroCount(d);
        return n;
    }

    /// <summary>Run lengths between consecutive change positions, from 0 to <paramref name="total"/>: n + 1 counts.</summary>
    private static void Differences(int* pos, int n, int total, int* counts)
    {
        if (n == 0)
        {
            counts[0] = total;
            return;
        }
        counts[0] = pos[0];
        int i = 1;
        if (SamUpsamplePlan.VectorBits >= 512)
            for (; i <= n - 16; i += 16) (Vector512.Load(pos + i) - Vector512.Load(pos + i - 1)).Store(counts + i);
        for (; i < n; i++) counts[i] = pos[i] - pos[i - 1];
        counts[n] = total - pos[n - 1];
    }

    /// <summary>
    /// Columns [64k, 64k + 64) of the row-major bits (row y, bit x) as column words (column i at
    /// <c>_columns[i·cw]</c>, bit y), rows padded with zeros.
    /// </summary>
    private void TransposeColumns(int k, int cw)
    {
        int h = _height, nx = Math.Min(64, _width - 64 * k);
        ulong* block = stackalloc ulong[64];
        ulong allColumns = nx == 64 ? ulong.MaxValue : (1UL << nx) - 1;
        fixed (ulong* rows = _bits)
        fixed (ulong* columns = _columns)
            for (int by = 0; by < cw; by++)
            {
                int y0 = 64 * by, ny = Math.Min(64, h - y0);
                ulong any = 0, all = ulong.MaxValue;
                for (int i = 0; i < ny; i++)
                {
                    ulong v = rows[(long)(y0 + i) * _words + k];
                    block[i] = v;
                    any |= v;
                    all &= v;
                }
                ulong* dst = columns + by;
                // Masks are mostly empty or solid away from their edges: such blocks need no transpose.
                if (any == 0 || all == allColumns)
                {
                    ulong column = any == 0 ? 0UL : ny == 64 ? ulong.MaxValue : (1UL << ny) - 1;
                    for (int i = 0; i < nx; i++) dst[(long)i * cw] = column;
                    continue;
                }
                for (int i = ny; i < 64; i++) block[i] = 0;
                Transpose64(block);
                for (int i = 0; i < nx; i++) dst[(long)i * cw] = block[i];
            }
    }
    /// <summary>
    /// In-place transpose of a 64×64 bit matrix (word i, bit j ↔ word j, bit i): swap the off-diagonal
    /// halves, then the quarters inside each half, down to single bits.
    /// </summary>
    private static void Transpose64(ulong* a)
    {
        if (SamUpsamplePlan.VectorBits >= 512)
        {
            Transpose64Vector(a);
            return;
        }
        ulong m = 0x00000000FFFFFFFFUL;
        for (int j = 32; j != 0; j >>= 1, m ^= m << j)
            for (int k = 0; k < 64; k = (k + j + 1) & ~j)
            {
                ulong t = ((a[k] >> j) ^ a[k + j]) & m;
                a[k + j] ^= t;
                a[k] ^= t << j;
            }
    }

    /// <summary>
    /// <see cref="Transpose64"/> eight words at a time: the swaps between words 32, 16 and 8 apart pair
    /// whole vectors; those 4, 2 and 1 apart pair lanes of one vector, whose partner lanes come from a
    /// permute, each lane keeping its half of the exchange.
    /// </summary>
    private static void Transpose64Vector(ulong* a)
    {
        ulong m = 0x00000000FFFFFFFFUL;
        for (int j = 32; j >= 8; j >>= 1, m ^= m << j)
        {
            var vm = Vector512.Create(m);
            for (int k = 0; k < 64; k = (k + j + 8) & ~j)
            {
                // k runs over 8-word groups with bit j clear.
                var lo = Vector512.Load(a + k);
                var hi = Vector512.Load(a + k + j);
                var t = (Vector512.ShiftRightLogical(lo, j) ^ hi) & vm;
                (hi ^ t).Store(a + k + j);
                (lo ^ Vector512.ShiftLeft(t, j)).Store(a + k);
            }
        }
        for (int j = 4; j != 0; j >>= 1, m ^= m << j)
        {
            var vm = Vector512.Create(m);
            // Lane i's partner is lane i ^ j; the lower lane of a pair (bit j of i clear) is the "k" side.
            var partner = Vector512.Create(0UL ^ (ulong)j, 1UL ^ (ulong)j, 2UL ^ (ulong)j, 3UL ^ (ulong)j, 4UL ^ (ulong)j, 5UL ^ (ulong)j, 6UL ^ (ulong)j, 7UL ^ (ulong)j);
            var lower = Vector512.Create(
                (0 & j) == 0 ? ulong.MaxValue : 0, (1 & j) == 0 ? ulong.MaxValue : 0, (2 & j) == 0 ? ulong.MaxValue : 0, (3 & j) == 0 ? ulong.MaxValue : 0,
                (4 & j) == 0 ? ulong.MaxValue : 0, (5 & j) == 0 ? ulong.MaxValue : 0, (6 & j) == 0 ? ulong.MaxValue : 0, (7 & j) == 0 ? ulong.MaxValue : 0);
            for (int k = 0; k < 64; k += 8)
            {
                var v = Vector512.Load(a + k);
                var p = Avx512F.PermuteVar8x64(v, partner);
                var tLow = (Vector512.ShiftRightLogical(v, j) ^ p) & vm;
                var tHigh = (Vector512.ShiftRightLogical(p, j) ^ v) & vm;
                Vector512.ConditionalSelect(lower, v ^ Vector512.ShiftLeft(tLow, j), v ^ tHigh).Store(a + k);
            }
        }
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SegmentAnything.Imaging;

/// <summary>
/// SAM's <c>postprocess_masks</c> for one low-resolution mask streamed one output row at a time, bit for
/// bit what the separable two-stage resize computes: the same taps, weights and fused multiply-adds per
/// value, but only the intermediate rows the next stage reads, each computed once and kept in a two-row
/// window, so nothing larger than a row is ever written. One per thread; rows of a mask may start
/// anywhere (a band of rows) but must then come in increasing order.
/// </summary>
internal sealed unsafe class SamMaskUpsampler
{
    private SamUpsamplePlan _plan;
    private RowWindow _stage1, _stage2;
    private float[] _cropRow;
    private float* _low;

    public SamUpsamplePlan Plan => _plan;

    public SamMaskUpsampler(SamUpsamplePlan plan)
    {
        _plan = plan;
        (_stage1, _stage2, _cropRow) = Buffers(plan);
    }

    private static (RowWindow, RowWindow, float[]) Buffers(SamUpsamplePlan plan) =>
        (new RowWindow(plan.InW, plan.Blocks), new RowWindow(plan.OutW, plan.Blocks), GC.AllocateUninitializedArray<float>(plan.InW, pinned: true));

    /// <summary>Switches to another geometry, reusing the buffers when they are the right size.</summary>
    public void Use(SamUpsamplePlan plan)
    {
        if (ReferenceEquals(plan, _plan)) return;
        if (plan.InW != _plan.InW || plan.OutW != _plan.OutW) (_stage1, _stage2, _cropRow) = Buffers(plan);
        _plan = plan;
    }

    /// <summary>
    /// Starts a new mask: [lowH, lowW] logits at <paramref name="lowRes"/>, which the caller keeps pinned
    /// and unchanged until its last row is read.
    /// </summary>
    public void Begin(float* lowRes)
    {
        _low = lowRes;
        _stage1.Clear();
        _stage2.Clear();
    }

    /// <summary>Output row <paramref name="y"/> into <paramref name="dst"/>.</summary>
    public void Row(int y, float* dst)
    {
        Sources(y, 0, _plan.Blocks, out float* a, out float* b, out float w0, out float w1);
        SamUpsamplePlan.Vertical(a, b, w0, w1, dst, _plan.OutW);
    }

    /// <summary>
    /// The two horizontally upsampled rows and weights whose combination is output row <paramref name="y"/>,
    /// valid in the columns of output blocks [<paramref name="k0"/>, <paramref name="k1"/>) (whole rows of
    /// the output width, of which only those columns are computed).
    /// </summary>
    public void Sources(int y, int k0, int k1, out float* a, out float* b, out float w0, out float w1)
    {
        var v2 = _plan.V2;
        int m0 = v2.Index[2 * y], m1 = v2.Index[2 * y + 1];
        a = Stage2(m0, m1, k0, k1);
        b = Stage2(m1, m0, k0, k1);
        (w0, w1) = (v2.Weight[2 * y], v2.Weight[2 * y + 1]);
    }

    /// <summary>Row r of the crop upsampled horizontally to the output width, valid on blocks [k0, k1).</summary>
    private float* Stage2(int r, int keep, int k0, int k1)
    {
        float* slot = _stage2.Get(r, keep, out int* stamp, out int version);
        var p = _plan;
        for (int k = k0; k < k1; k++)
        {
            if (stamp[k] == version) continue;
            int end = k + 1;
            while (end < k1 && stamp[end] != version) end++;
            // Blocks [k, end) are missing: their crop columns, then their outputs.
            int c0 = p.CropStart[k], c1 = p.CropEnd[end - 1];
            int j0 = p.V1.Index[2 * r], j1 = p.V1.Index[2 * r + 1];
            float* s0 = Stage1(j0, j1, k, end), s1 = Stage1(j1, j0, k, end);
            fixed (float* crop = _cropRow)
            {
                SamUpsamplePlan.Vertical(s0, s1, p.V1.Weight[2 * r], p.V1.Weight[2 * r + 1], crop, c0, c1);
                SamUpsamplePlan.Horizontal(crop, slot, p.H2, k * SamUpsamplePlan.BlockWidth, Math.Min(p.OutW, end * SamUpsamplePlan.BlockWidth));
            }
            for (int i = k; i < end; i++) stamp[i] = version;
            k = end - 1;
        }
        return slot;
    }

    /// <summary>Low-resolution row r upsampled horizontally, valid on the crop columns of output blocks [k0, k1).</summary>
    private float* Stage1(int r, int keep, int k0, int k1)
    {
        float* slot = _stage1.Get(r, keep, out int* stamp, out int version);
        var p = _plan;
        for (int k = k0; k < k1; k++)
        {
            if (stamp[k] == version) continue;
            int end = k + 1;
            while (end < k1 && stamp[end] != version) end++;
            SamUpsamplePlan.Horizontal(_low + (long)r * p.LowW, slot, p.H1, p.CropStart[k], p.CropEnd[end - 1]);
            for (int i = k; i < end; i++) stamp[i] = version;
            k = end - 1;
        }
        return slot;
    }

    /// <summary>
    /// Two cached rows of a stage, each with the output blocks it holds (a block is valid when its stamp
    /// equals the slot's version, so reassigning a slot invalidates it in O(1)). Rows are requested in
    /// pairs (i0, i1) that never move backwards, so the slot to reuse is the one not holding the pair's
    /// other row.
    /// </summary>
    private sealed class RowWindow
    {
        private readonly float[] _rows;
        private readonly int[] _stamps;
        private readonly int _width, _blocks;
        private int _key0 = -1, _key1 = -1, _version0, _version1;

        public RowWindow(int width, int blocks)
        {
            (_width, _blocks) = (width, blocks);
            _rows = GC.AllocateUninitializedArray<float>(2 * width, pinned: true);
            _stamps = GC.AllocateArray<int>(2 * blocks, pinned: true);
        }

        public void Clear() => (_key0, _key1, _version0, _version1) = (-1, -1, _version0 + 1, _version1 + 1);

        public float* Get(int key, int keep, out int* stamp, out int version)
        {
            float* first = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_rows));
            int* stamps = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_stamps));
            if (_key0 != key && _key1 != key)
            {
                if (_key0 != keep) (_key0, _version0) = (key, _version0 + 1);
                else (_key1, _version1) = (key, _version1 + 1);
            }
            if (_key0 == key)
            {
                stamp = stamps;
                version = _version0;
                return first;
            }
            stamp = stamps + _blocks;
            version = _version1;
            return first + _width;
        }
    }
}

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
        (new RowWindow(plan.InW), new RowWindow(plan.OutW), GC.AllocateUninitializedArray<float>(plan.InW, pinned: true));

    /// <summary>Switches to another geometry, reusing the buffers when they are wide enough.</summary>
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
        Sources(y, out float* a, out float* b, out float w0, out float w1);
        SamUpsamplePlan.Vertical(a, b, w0, w1, dst, _plan.OutW);
    }

    /// <summary>The two horizontally upsampled rows and weights whose combination is output row <paramref name="y"/>.</summary>
    public void Sources(int y, out float* a, out float* b, out float w0, out float w1)
    {
        var v2 = _plan.V2;
        int m0 = v2.Index[2 * y], m1 = v2.Index[2 * y + 1];
        a = Stage2(m0, m1);
        b = Stage2(m1, m0);
        (w0, w1) = (v2.Weight[2 * y], v2.Weight[2 * y + 1]);
    }

    /// <summary>Row r of the crop upsampled horizontally to the output width.</summary>
    private float* Stage2(int r, int keep)
    {
        float* slot = _stage2.Get(r, keep, out bool hit);
        if (hit) return slot;
        var v1 = _plan.V1;
        int j0 = v1.Index[2 * r], j1 = v1.Index[2 * r + 1];
        float* a = Stage1(j0, j1), b = Stage1(j1, j0);
        fixed (float* crop = _cropRow)
        {
            SamUpsamplePlan.Vertical(a, b, v1.Weight[2 * r], v1.Weight[2 * r + 1], crop, _plan.InW);
            SamUpsamplePlan.Horizontal(crop, slot, _plan.H2);
        }
        return slot;
    }

    /// <summary>Low-resolution row r upsampled horizontally (the columns inside the crop).</summary>
    private float* Stage1(int r, int keep)
    {
        float* slot = _stage1.Get(r, keep, out bool hit);
        if (hit) return slot;
        SamUpsamplePlan.Horizontal(_low + (long)r * _plan.LowW, slot, _plan.H1);
        return slot;
    }

    /// <summary>
    /// Two cached rows of a stage. Rows are requested in pairs (i0, i1) that never move backwards, so the
    /// slot to reuse is the one not holding the pair's other row.
    /// </summary>
    private sealed class RowWindow
    {
        private readonly float[] _rows;
        private readonly int _width;
        private int _key0 = -1, _key1 = -1;

        public RowWindow(int width)
        {
            _width = width;
            _rows = GC.AllocateUninitializedArray<float>(2 * width, pinned: true);
        }

        public void Clear() => (_key0, _key1) = (-1, -1);

        public float* Get(int key, int keep, out bool hit)
        {
            float* first = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_rows));
            if (_key0 == key) { hit = true; return first; }
            if (_key1 == key) { hit = true; return first + _width; }
            hit = false;
            if (_key0 != keep) { _key0 = key; return first; }
            _key1 = key;
            return first + _width;
        }
    }
}

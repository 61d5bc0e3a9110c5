namespace SegmentAnything.AutomaticMasks;

/// <summary>
/// Connected-component labelling of a binary image with 8-connectivity, as OpenCV's
/// <c>connectedComponentsWithStats(mask, 8)</c>: label 0 is the background (unset pixels), components
/// are numbered 1.. in raster order of their first pixel.
/// </summary>
public static class ConnectedComponents
{
    /// <summary>Labels [h·w] and the pixel count of each label (index 0: background).</summary>
    public static (int[] Labels, int[] Sizes) Label(ReadOnlySpan<bool> mask, int height, int width)
    {
        if (height <= 0 || width <= 0 || (long)height * width != mask.Length)
            throw new ArgumentException($"Mask of {mask.Length} values does not match {width}x{height}.");
        // Two-pass union-find over provisional labels; the final numbering follows the raster order of
        // each component's first pixel, which is OpenCV's order.
        var labels = new int[mask.Length];
        var parent = new List<int> { 0 };
        for (int y = 0; y < height; y++)
        {
            int row = y * width;
            for (int x = 0; x < width; x++)
            {
                if (!mask[row + x]) continue;
                int best = 0;
                // Already-visited 8-neighbours: W, NW, N, NE.
                if (x > 0) best = Merge(parent, best, labels[row + x - 1]);
                if (y > 0)
                {
                    int up = row - width;
                    if (x > 0) best = Merge(parent, best, labels[up + x - 1]);
                    best = Merge(parent, best, labels[up + x]);
                    if (x < width - 1) best = Merge(parent, best, labels[up + x + 1]);
                }
                if (best == 0)
                {
                    best = parent.Count;
                    parent.Add(best);
                }
                labels[row + x] = best;
            }
        }
        var final = new int[parent.Count];
        var sizes = new List<int> { 0 };
        for (int i = 0; i < labels.Length; i++)
        {
            int l = labels[i];
            if (l == 0) { sizes[0]++; continue; }
            int root = Find(parent, l);
            if (final[root] == 0)
            {
                final[root] = sizes.Count;
                sizes.Add(0);
            }
            int f = final[root];
            labels[i] = f;
            sizes[f]++;
        }
        return (labels, sizes.ToArray());
    }

    private static int Merge(List<int> parent, int a, int b)
    {
        if (b == 0) return a;
        if (a == 0) return Find(parent, b);
        int ra = Find(parent, a), rb = Find(parent, b);
        if (ra == rb) return ra;
        if (ra < rb) { parent[rb] = ra; return ra; }
        parent[ra] = rb;
        return rb;
    }

    private static int Find(List<int> parent, int x)
    {
        while (parent[x] != x)
        {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        return x;
    }

    /// <summary>
    /// amg's <c>remove_small_regions</c>: in "holes" mode fills unset regions smaller than
    /// <paramref name="areaThreshold"/>; in "islands" mode removes set regions smaller than it (keeping
    /// the largest if all are small). Returns the new mask and whether anything changed.
    /// </summary>
    public static (bool[] Mask, bool Changed) RemoveSmallRegions(ReadOnlySpan<bool> mask, int height, int width, double areaThreshold, bool holes)
    {
        var working = new bool[mask.Length];
        for (int i = 0; i < mask.Length; i++) working[i] = mask[i] ^ holes;
        var (labels, sizes) = Label(working, height, width);
        var small = new bool[sizes.Length];
        bool any = false;
        for (int l = 1; l < sizes.Length; l++)
            if (sizes[l] < areaThreshold) { small[l] = true; any = true; }
        if (!any) return (mask.ToArray(), false);
        // fill = {0} ∪ small; holes: result = label in fill; islands: result = label not in fill (or the largest if none).
        var inResult = new bool[sizes.Length];
        if (holes)
        {
            inResult[0] = true;
            for (int l = 1; l < sizes.Length; l++) inResult[l] = small[l];
        }
        else
        {
            bool anyLeft = false;
            for (int l = 1; l < sizes.Length; l++) { inResult[l] = !small[l]; anyLeft |= inResult[l]; }
            if (!anyLeft)
            {
                int largest = 1;
                for (int l = 2; l < sizes.Length; l++) if (sizes[l] > sizes[largest]) largest = l;
                inResult[largest] = true;
            }
        }
        var result = new bool[mask.Length];
        for (int i = 0; i < result.Length; i++) result[i] = inResult[labels[i]];
        return (result, true);
    }
}
